"""Opening SQLite connections with the durability settings, and the pool of read-only
connections that serve reads in worker threads (WAL readers never wait for the writer)."""

from __future__ import annotations

import functools
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from protocol.lifecycle import DatabaseSettings
from protocol.threads import ThreadPool

T = TypeVar("T")
P = ParamSpec("P")

# Listings read one at a time. The sqlite3 module releases the GIL around every row step, so
# reader threads walking at once hand the GIL over on every row: 8 concurrent 1,000-key pages
# cost 8-9 ms of CPU each instead of 2 (measured), where a listing waiting here sleeps on the
# lock. A step does little work outside the GIL, so little parallelism is lost.
_LISTING = threading.Lock()


def one_listing_at_a_time(fn: Callable[P, T]) -> Callable[P, T]:
    """Run a whole listing (its read transaction) under the process-wide listing lock."""

    @functools.wraps(fn)
    def locked(*args: P.args, **kwargs: P.kwargs) -> T:
        with _LISTING:
            return fn(*args, **kwargs)

    return locked


SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
JOURNAL_MODES = ("WAL", "DELETE", "TRUNCATE", "PERSIST")


def check_settings(settings: DatabaseSettings) -> None:
    problems: list[str] = []
    if settings.synchronous_mode.upper() not in SYNCHRONOUS_MODES:
        problems.append(
            f"database.synchronous_mode {settings.synchronous_mode!r} is not one of"
            f" {', '.join(SYNCHRONOUS_MODES)}"
        )
    if settings.journal_mode.upper() not in JOURNAL_MODES:
        problems.append(
            f"database.journal_mode {settings.journal_mode!r} is not one of"
            f" {', '.join(JOURNAL_MODES)}"
        )
    if settings.busy_timeout < 0:
        problems.append(f"database.busy_timeout must be >= 0 ms, got {settings.busy_timeout}")
    if problems:
        raise ValueError("; ".join(problems))


def connect(path: str, settings: DatabaseSettings, *, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves), usable from any
    thread but only one thread at a time (the writer and the pool guarantee that)."""
    conn = sqlite3.connect(
        path,
        timeout=settings.busy_timeout / 1000,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(settings.busy_timeout)}")
        conn.execute(f"PRAGMA cache_size = {int(settings.cache_size)}")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
        else:
            mode = settings.journal_mode.upper()
            got = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
            if str(got).upper() != mode:
                raise RuntimeError(f"SQLite refused journal_mode={mode} (it kept {got})")
            conn.execute(f"PRAGMA synchronous = {settings.synchronous_mode.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


class ReaderPool:
    """At most `size` read-only connections, each used by one worker thread at a time."""

    def __init__(self, path: str, settings: DatabaseSettings, size: int) -> None:
        self._path = path
        self._settings = settings
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # Bounds the threads (and so the connections) in use.
        self._threads = ThreadPool(size, "sqlite-read")

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._threads.run(self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._acquire()
        try:
            return fn(conn)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._idle.put(conn)

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise RuntimeError("the metadata store is closed")
            conn = connect(self._path, self._settings, readonly=True)
            self._all.append(conn)
            return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._threads.shutdown()
