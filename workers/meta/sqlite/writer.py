"""Group commit: the one thread that writes the SQLite database.

Callers submit write operations (plain functions of the connection) and await a per-op event.
The writer takes everything queued (up to `cap`), runs each op inside one transaction under
its own SAVEPOINT (a failing op is rolled back alone and its neighbours still commit), COMMITs
once, then wakes each caller. So a caller hears back only after its batch's COMMIT returned,
and one fsync is shared by the whole batch.

Waking crosses from this thread into the callers' event loops: each op captures its loop's
anyio token, and the writer makes one `anyio.from_thread.run_sync` call per loop per batch
(not per op) that sets every event of that loop. This works on asyncio and trio alike.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

from protocol.errors import RemoteError, Unavailable
from workers.meta.engine_rules import Refused
from workers.meta.store import MetaStats

T = TypeVar("T")
log = logging.getLogger("alexanderd.meta.writer")

WriteOp = Callable[[sqlite3.Connection], T]


class TransactionAborted(RemoteError):
    """SQLite rolled back a whole batch (I/O error, disk full...): this op's write is lost."""

    code = "InternalError"


class _Pending(Generic[T]):
    __slots__ = ("error", "event", "fn", "result", "token")

    def __init__(self, fn: WriteOp[T]) -> None:
        self.fn = fn
        self.event = anyio.Event()
        self.token = anyio.lowlevel.current_token()
        self.result: T | None = None
        self.error: BaseException | None = None


class Writer:
    def __init__(self, conn: sqlite3.Connection, stats: MetaStats, cap: int = 256) -> None:
        if cap < 1:
            raise ValueError("the group-commit cap must be at least 1")
        self._conn = conn
        self._stats = stats
        self._cap = cap
        self._queue: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="meta-writer", daemon=True)
        self._thread.start()

    async def submit(self, fn: WriteOp[T]) -> T:
        """Run `fn` in the next batch; return its result once the batch is durable."""
        if self._closed:
            raise Unavailable("the metadata store is closed")
        op: _Pending[T] = _Pending(fn)
        self._queue.put(op)
        await op.event.wait()
        if op.error is not None:
            raise op.error
        return op.result  # type: ignore[return-value]

    def queued(self) -> int:
        """Ops waiting for the writer (approximate; for tests and metrics)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Let queued ops finish, then stop the thread and close the connection. Blocking:
        call it from a worker thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch: list[_Pending[Any]] = [first]
                while len(batch) < self._cap:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stopping = True
                        break
                    batch.append(nxt)
                try:
                    self._execute(batch)
                except Exception as exc:  # BEGIN/ROLLBACK TO failed: nothing of it committed
                    log.exception("group commit failed")
                    self._abandon()
                    for op in batch:
                        op.error = op.error or exc
                self._wake(batch)
        finally:
            self._conn.close()
            self._fail_leftovers()

    def _abandon(self) -> None:
        # Leave no half-open transaction behind for the next batch's BEGIN.
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("rollback after a failed batch failed")

    def _fail_leftovers(self) -> None:
        # Ops that raced with close() would otherwise wait forever.
        leftovers: list[_Pending[Any]] = []
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not None:
                op.error = Unavailable("the metadata store is closed")
                leftovers.append(op)
        self._wake(leftovers)

    def _execute(self, batch: list[_Pending[Any]]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        succeeded: list[_Pending[Any]] = []
        for op in batch:
            conn.execute("SAVEPOINT op")
            try:
                op.result = op.fn(conn)
            except Exception as exc:
                op.error = exc
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                else:
                    # SQLite abandoned the whole transaction: the ops before this one lost
                    # their writes too. Fail them and go on in a fresh transaction.
                    for prev in succeeded:
                        if prev.error is None:
                            prev.error = TransactionAborted(f"transaction rolled back: {exc}")
                    succeeded.clear()
                    conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute("RELEASE op")
                if isinstance(op.result, Refused):
                    op.error, op.result = op.result.error, None
                succeeded.append(op)
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for op in succeeded:
                # A refused op keeps its refusal: only its bookkeeping writes were lost.
                if op.error is None:
                    op.error = TransactionAborted(f"commit failed: {exc}")
            return
        stats = self._stats
        stats.write_batches += 1
        stats.write_ops += len(batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))

    def _wake(self, batch: list[_Pending[Any]]) -> None:
        by_loop: dict[int, list[_Pending[Any]]] = {}
        for op in batch:
            by_loop.setdefault(id(op.token.native_token), []).append(op)
        for ops in by_loop.values():
            try:
                anyio.from_thread.run_sync(_set_events, ops, token=ops[0].token)
            except Exception:
                # The caller's event loop has ended: nobody is waiting for these answers.
                log.debug("event loop gone; %d answers dropped", len(ops))


def _set_events(ops: list[_Pending[Any]]) -> None:
    for op in ops:
        op.event.set()
