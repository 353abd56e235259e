"""protocol.logs: the JSON lines every process writes, stdlib records in the same format, the
console format, and reopening the file after logrotate renamed it without losing a line.

Each case runs in its own interpreter: logging configuration is process-wide state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from protocol.logs import configure_logging

ROOT = Path(__file__).resolve().parents[1]


def run_script(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_carry_identity_level_and_bound_context(tmp_path: Path) -> None:
    result = run_script(
        """
        import logging, os, structlog
        from protocol.logs import configure_logging, get_logger
        log = get_logger("alexanderd.front.app")  # before configure: must still get our format
        configure_logging("front", "info")
        print(os.getpid(), file=__import__("sys").stderr)
        structlog.contextvars.bind_contextvars(rid="rid-123")
        log.info("object stored", bucket="photos", size=42)
        log.debug("not at info level")
        log.warning("%d retries", 3)
        logging.getLogger("hypercorn.error").warning("peer %s went away", "10.0.0.1")
        logging.getLogger("asyncio").debug("stdlib debug is filtered too")
        structlog.contextvars.clear_contextvars()
        try:
            raise KeyError("boom")
        except KeyError:
            log.exception("handler failed")
        """,
        tmp_path,
    )
    pid = int(result.stderr.strip())
    stored, retries, peer, failed = json_lines(result.stdout)

    assert list(stored)[:5] == ["timestamp", "level", "event", "role", "pid"]
    assert stored["level"] == "info" and stored["event"] == "object stored"
    assert (stored["role"], stored["pid"]) == ("front", pid)
    assert (stored["rid"], stored["bucket"], stored["size"]) == ("rid-123", "photos", 42)
    assert stored["logger"] == "alexanderd.front.app"
    when = datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00"))
    assert when.utcoffset() == UTC.utcoffset(None)

    assert (retries["level"], retries["event"], retries["rid"]) == (
        "warning",
        "3 retries",
        "rid-123",
    )
    assert peer["event"] == "peer 10.0.0.1 went away"
    assert (peer["level"], peer["logger"], peer["role"], peer["rid"]) == (
        "warning",
        "hypercorn.error",
        "front",
        "rid-123",
    )
    assert failed["level"] == "error" and "rid" not in failed
    assert "KeyError: 'boom'" in failed["exception"]


def test_reconfigured_level_applies_to_loggers_already_in_use(tmp_path: Path) -> None:
    result = run_script(
        """
        from protocol.logs import configure_logging, get_logger
        log = get_logger()
        configure_logging("meta", "warning")
        log.info("hidden")
        log.warning("shown at warning")
        configure_logging("meta", "debug")
        log.debug("shown at debug")
        """,
        tmp_path,
    )
    assert [line["event"] for line in json_lines(result.stdout)] == [
        "shown at warning",
        "shown at debug",
    ]


def test_console_format_is_for_people(tmp_path: Path) -> None:
    result = run_script(
        """
        import logging
        from protocol.logs import configure_logging, get_logger
        configure_logging("supervisor", "info", fmt="console")
        get_logger("x").info("child started", child="front-0")
        logging.getLogger("hypercorn.error").info("stdlib line")
        """,
        tmp_path,
    )
    first, second = result.stdout.splitlines()
    assert not first.startswith("{")
    assert "child started" in first and "child=front-0" in first and "role=supervisor" in first
    assert "stdlib line" in second and "[info" in second


def test_file_mode_and_reopen_after_rename_lose_nothing(tmp_path: Path) -> None:
    log_path = tmp_path / "alexanderd.log"
    rotated = tmp_path / "alexanderd.log.1"
    result = run_script(
        f"""
        import os, threading
        from protocol.logs import configure_logging, get_logger, reopen_logs, log_file
        configure_logging("blob", "info", file={str(log_path)!r})
        assert log_file() == {str(log_path)!r}
        log = get_logger()
        log.info("before rotation")
        os.rename({str(log_path)!r}, {str(rotated)!r})  # what logrotate does
        log.info("after rename, before reopen")
        reopen_logs()
        log.info("after reopen")

        # Lines other threads log while the file is swapped land whole in one file or the other.
        def spam(name):
            for i in range(2000):
                log.info("spam", thread=name, i=i)
        threads = [threading.Thread(target=spam, args=(n,)) for n in ("a", "b")]
        for t in threads: t.start()
        for _ in range(20):
            os.rename({str(log_path)!r}, {str(rotated)!r} + ".tmp")
            reopen_logs()
            with open({str(rotated)!r} + ".tmp") as src, open({str(rotated)!r}, "a") as dst:
                dst.write(src.read())
            os.remove({str(rotated)!r} + ".tmp")
        for t in threads: t.join()
        print("done")
        """,
        tmp_path,
    )
    assert result.stdout == "done\n"  # nothing went to stdout in file mode
    old, new = json_lines(rotated.read_text()), json_lines(log_path.read_text())
    # The first swap moved the reopened file, "after reopen" at its head, onto the rotated one.
    assert [line["event"] for line in old[:3]] == [
        "before rotation",
        "after rename, before reopen",
        "after reopen",
    ]
    spam = [(line["thread"], line["i"]) for line in old[3:] + new]
    assert sorted(spam) == sorted((name, i) for name in "ab" for i in range(2000))
    assert log_path.stat().st_mode & 0o007 == 0  # other users never read the logs


def test_file_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "x.log"
    with pytest.raises(OSError, match="cannot open log file"):
        configure_logging("front", file=str(missing))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "front", "level": "verbose"}, "unknown log level 'verbose'"),
        ({"role": "front", "fmt": "xml"}, "unknown log format 'xml'"),
        ({"role": ""}, "role must be a non-empty string"),
        ({"role": "front", "file": ""}, "log file must be a path"),
    ],
)
def test_bad_settings_are_rejected_before_anything_changes(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        configure_logging(**kwargs)
