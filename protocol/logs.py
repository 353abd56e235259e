"""The one log format every alexanderd process writes: structlog JSON lines (or console text).

Each process calls `configure_logging(role, ...)` once at start. Lines go to stdout (journald under
systemd) or, with `file`, to that file opened for append. A JSON line looks like

    {"timestamp": "2025-01-02T03:04:05.678901Z", "level": "info", "event": "object stored",
     "role": "front", "pid": 4242, "rid": "9f1c...", "bucket": "photos"}

Context bound with `structlog.contextvars.bind_contextvars(rid=...)` (the request id) appears in
every line logged while it is bound, across awaits. Records of stdlib loggers (hypercorn, asyncio,
`warnings`) go through the same renderer, output and level.

Writing a line is a blocking write(2), as in any Python logging; `reopen_logs()` opens a file, so an
event loop calls it through `anyio.to_thread.run_sync`.

Calling `configure_logging` again (a reload) changes the level and the file for every logger,
including those already in use: the level check reads a module global at each call and all
loggers share one output. A change of format only reaches loggers first used after it, since
loggers are cached with their processor chain (that is what makes them fast).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import threading
from typing import Any, Final, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
FORMATS: Final = ("json", "console")
# The keys every line starts with, in this order, so lines read the same whichever context is bound.
_LEADING_KEYS: Final = ("timestamp", "level", "event", "role", "pid")

# Level of this process; read on every log call by `Logger`, so a reconfigure applies to cached
# loggers too.
_level = logging.INFO


class _Output:
    """Where lines go: stdout, or a file `reopen` swaps without losing or splitting lines."""

    def __init__(self) -> None:
        # One lock for writes and swaps: a line is written whole to the old file or to the new one.
        self._lock = threading.Lock()
        self._path: str | None = None
        self._fd: int | None = None
        self._reported_failure = False

    @property
    def path(self) -> str | None:
        return self._path

    def use_file(self, path: str | None) -> None:
        new_fd = None if path is None else _open_append(path)
        with self._lock:
            old_fd, self._fd, self._path = self._fd, new_fd, path
        if old_fd is not None:
            os.close(old_fd)

    def reopen(self) -> None:
        # Open first, then swap: lines written meanwhile land in the renamed file, none are dropped.
        if self._path is not None:
            self.use_file(self._path)

    def is_tty(self) -> bool:
        if self._fd is not None:
            return False
        stream = sys.stdout
        return stream is not None and stream.isatty()

    def write_line(self, line: str) -> None:
        data = line + "\n"
        try:
            with self._lock:
                if self._fd is None:
                    _write_stream(sys.stdout, data)
                else:
                    _write_fd(self._fd, data.encode("utf-8", "backslashreplace"))
        except (OSError, ValueError) as exc:
            # A full disk or a vanished journal must not fail the request that happened to log;
            # say so once on stderr, which systemd also captures.
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        if self._reported_failure:
            return
        self._reported_failure = True
        try:
            sys.stderr.write(f"alexanderd: cannot write log lines ({exc}); dropping them\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _open_append(path: str) -> int:
    try:
        # O_APPEND makes every write(2) land at the end, whole: several processes may share a file.
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot open log file {path!r}: {exc.strerror}") from exc


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[written:]


def _write_stream(stream: TextIO | None, data: str) -> None:
    if stream is None:
        raise OSError(errno.EBADF, "no stdout")
    stream.write(data)
    # stdout is block-buffered when it is a pipe (journald): flush so lines arrive as they happen.
    stream.flush()


_OUTPUT: Final = _Output()


class _LineWriter:
    """structlog's final logger: takes the rendered line and hands it to the shared output.
    One per logger name, which `_add_logger_name` puts in the line."""

    def __init__(self, name: str | None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _OUTPUT.write_line(message)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _line_writer_factory(name: str | None = None, *_args: Any) -> _LineWriter:
    return _LineWriter(name)


def _add_logger_name(logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    # stdlib records carry their logger's name; structlog loggers the name given to get_logger.
    name = record.name if isinstance(record, logging.LogRecord) else getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


class Logger(structlog.BoundLoggerBase):
    """The bound logger `get_logger` returns: `info("event", key=value)`, `bind(...)`, and
    %-style positional args like stdlib logging. A call below the level costs one comparison."""

    def _log(self, level: int, name: str, event: str, args: tuple[Any, ...], kw: Any) -> None:
        if level < _level:
            return
        if args:
            event = event % args
        self._proxy_to_logger(name, event, **kw)

    def debug(self, event: str, *args: Any, **kw: Any) -> None:
        self._log(logging.DEBUG, "debug", event, args, kw)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        self._log(logging.INFO, "info", event, args, kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        self._log(logging.WARNING, "warning", event, args, kw)

    def error(self, event: str, *args: Any, **kw: Any) -> None:
        self._log(logging.ERROR, "error", event, args, kw)

    def critical(self, event: str, *args: Any, **kw: Any) -> None:
        self._log(logging.CRITICAL, "critical", event, args, kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at error level with the exception being handled."""
        kw.setdefault("exc_info", True)
        self._log(logging.ERROR, "error", event, args, kw)


def _identity(role: str) -> Processor:
    pid = os.getpid()

    def add_identity(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("role", role)
        event_dict.setdefault("pid", pid)
        return event_dict

    return add_identity


def _leading_keys_first(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    ordered = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _renderer(fmt: str) -> list[Processor]:
    if fmt == "json":
        # Tracebacks become one "exception" string, so an error stays one JSON line.
        return [
            structlog.processors.format_exc_info,
            _leading_keys_first,
            structlog.processors.JSONRenderer(serializer=json.dumps, default=repr),
        ]
    # ConsoleRenderer formats exc_info itself (pretty tracebacks), so it gets it unformatted.
    return [structlog.dev.ConsoleRenderer(colors=_OUTPUT.is_tty())]


class _StdlibHandler(logging.Handler):
    """Writes stdlib records, rendered by structlog's ProcessorFormatter, to the shared output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        _OUTPUT.write_line(line)


def configure_logging(
    role: str, level: str = "info", fmt: str = "json", file: str | None = None
) -> None:
    """Set up this process's logging: `role` names the process ("supervisor", "front", "blob",
    "meta", ...); `level` is debug/info/warning/error/critical; `fmt` is "json" (production) or
    "console" (`make run`); `file` is a path to append to instead of stdout."""
    global _level
    if not role:
        raise ValueError("log role must be a non-empty string")
    level_no = LEVELS.get(level.lower())
    if level_no is None:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if file is not None and not file:
        raise ValueError("log file must be a path, or None for stdout")

    _OUTPUT.use_file(file)
    _level = level_no
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _identity(role),
        _add_logger_name,
    ]
    renderer = _renderer(fmt)
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *renderer],
        wrapper_class=Logger,
        logger_factory=_line_writer_factory,
        cache_logger_on_first_use=True,
    )

    handler = _StdlibHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level_no)
    # Python warnings (DeprecationWarning from a dependency, ResourceWarning) become log lines too.
    logging.captureWarnings(True)


def reopen_logs() -> None:
    """Reopen the log file after logrotate renamed it (SIGUSR1); a no-op when logging to stdout.
    Blocking (it opens a file): call it from a thread when on an event loop."""
    _OUTPUT.reopen()


def log_file() -> str | None:
    """The file this process logs to, or None for stdout."""
    return _OUTPUT.path


def get_logger(name: str | None = None) -> Logger:
    """A logger of this process; `name` (usually `__name__`) is added to its lines as `logger`."""
    # The name travels as a factory argument: the logger is only built (and cached) on first use,
    # so a module-level `log = get_logger(__name__)` still gets the configuration made later.
    logger: Logger = structlog.get_logger(name)
    return logger
