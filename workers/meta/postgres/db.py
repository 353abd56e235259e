"""Transactions on the asyncpg pool: every operation runs inside one explicit transaction on
one pooled connection, and failures become the errors the rest of the meta process expects.

- Writes: READ COMMITTED with `SET LOCAL synchronous_commit TO on`, preceded (in the same
  round trip as BEGIN) by the transaction-scoped advisory locks the op needs (locks.py).
  A Refused result commits its bookkeeping, then raises its error.
- Reads: REPEATABLE READ READ ONLY, so the several seeks of one listing page share one
  snapshot (a read-only repeatable-read transaction never fails to serialize).
- Deadlocks (40P01) and serialization failures (40001) are retried from scratch; so is a
  connection lost before COMMIT was sent (the server rolled the transaction back). A
  connection lost while COMMIT was in flight leaves the outcome unknown: that, the database
  being unreachable, a read-only server (a failed-over primary) and timeouts all raise
  Unavailable (ServiceUnavailable), never a retry that could apply a write twice.

PgBouncer (transaction pooling) safe: no session state is ever set (only SET LOCAL), every
statement runs inside BEGIN..COMMIT so its Parse and Execute reach one server connection,
the pool has no statement cache, and only transaction-scoped advisory locks are taken.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio
import asyncpg
from asyncpg import exceptions as pgerr
from asyncpg.pool import PoolConnectionProxy

from protocol.errors import RemoteError, Unavailable
from workers.meta.engine_rules import Refused
from workers.meta.postgres.locks import Locks
from workers.meta.store import MetaStats

T = TypeVar("T")
if TYPE_CHECKING:  # generic in the stubs only
    Conn = PoolConnectionProxy[asyncpg.Record]
else:
    Conn = PoolConnectionProxy
Op = Callable[[Conn], Awaitable[T]]

log = logging.getLogger("alexanderd.meta.postgres")

ATTEMPTS = 8  # conflicts are rare and short; a lost connection is replaced at once
ROLLBACK_TIMEOUT = 2.0

# The server is gone, going, or refusing us: the transaction did not survive.
_LOST = (
    pgerr.PostgresConnectionError,  # class 08: connection exceptions
    pgerr.AdminShutdownError,  # 57P01: pg_terminate_backend, fast shutdown
    pgerr.CrashShutdownError,  # 57P02
    pgerr.CannotConnectNowError,  # 57P03: starting up or shutting down
    OSError,
)
_CONFLICT = (pgerr.SerializationError, pgerr.DeadlockDetectedError)


class Database:
    """One pool, the statements that open transactions, and the retry policy."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], schema: str | None, target: str):
        self._pool = pool
        self._target = target
        path = f"; SET LOCAL search_path TO {_quote_ident(schema)}" if schema else ""
        self._begin_write = (
            "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO on" + path
        )
        self._begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" + path
        self.closed = False
        # Each write transaction counts as a batch of one: no group commit across requests.
        self.stats = MetaStats()

    @property
    def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        """The pool itself, for diagnostics and tests (operations go through read/write)."""
        return self._pool

    @property
    def target(self) -> str:
        """host:port/database, for messages (never the password)."""
        return self._target

    async def write(
        self, op: Callable[[Conn], Awaitable[T | Refused]], locks: Locks | None = None
    ) -> T:
        """Run `op` in a write transaction, after taking `locks`, and return its result once
        COMMIT (durable: synchronous_commit on) returned."""
        begin = self._begin_write + (locks.sql() if locks is not None else "")
        result = await self._run(begin, op)
        self.stats.write_batches += 1
        self.stats.write_ops += 1
        self.stats.largest_batch = 1
        if isinstance(result, Refused):
            raise result.error
        return result

    async def read(self, op: Op[T]) -> T:
        return await self._run(self._begin_read, op)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._pool.close()

    async def _acquire(self) -> Conn:
        if self.closed:
            raise Unavailable("the metadata store is closed")
        try:
            return await self._pool.acquire()
        except (*_LOST, TimeoutError, pgerr.TooManyConnectionsError) as exc:
            raise Unavailable(
                f"PostgreSQL at {self._target} is unreachable: {_describe(exc)}"
            ) from exc

    async def _lost(self, conn: Conn) -> None:
        """A connection died: so did its idle siblings, most likely (a restart, a failover),
        and each would cost a failed attempt. Replace them all on their next acquire."""
        _discard(conn)
        await self._pool.expire_connections()

    async def _lost_in(self, conn: Conn, exc: BaseException, committing: bool) -> None:
        """The connection died mid-transaction: retry-able, unless the COMMIT was sent (its
        outcome is then unknown, and a retry could apply the write twice)."""
        await self._lost(conn)
        if committing:
            raise Unavailable(
                f"lost PostgreSQL at {self._target} while committing; the outcome is"
                f" unknown: {_describe(exc)}"
            ) from exc

    async def _run(self, begin: str, op: Op[T]) -> T:
        last: BaseException | None = None
        for attempt in range(ATTEMPTS):
            conn = await self._acquire()
            committing = False
            try:
                await conn.execute(begin)
                result = await op(conn)
                committing = True
                await conn.execute("COMMIT")
                return result
            except TimeoutError as exc:
                # Before _LOST (TimeoutError is an OSError): a server that hangs is not
                # retried, each attempt would wait the whole command timeout again.
                _discard(conn)
                raise Unavailable(
                    f"PostgreSQL at {self._target} did not answer in time"
                    + ("; the commit's outcome is unknown" if committing else "")
                ) from exc
            except _CONFLICT as exc:
                # Another transaction won a lock race: start over with fresh reads.
                last = exc
                await _rollback(conn)
                log.debug("transaction conflict (attempt %d): %s", attempt + 1, exc)
            except _LOST as exc:
                await self._lost_in(conn, exc, committing)
                last = exc
                log.warning("PostgreSQL connection lost, retrying: %s", _describe(exc))
            except pgerr.InterfaceError as exc:
                if not _gone(conn):
                    await _rollback(conn)
                    raise
                await self._lost_in(conn, exc, committing)
                last = exc
            except pgerr.ReadOnlySQLTransactionError as exc:
                # A primary demoted by failover: drop the connection so the next one finds
                # the new primary behind the same address.
                await self._lost(conn)
                raise Unavailable(f"PostgreSQL at {self._target} is read-only now") from exc
            except BaseException:
                await _rollback(conn)
                raise
            finally:
                await _release(self._pool, conn)
        if isinstance(last, _CONFLICT):
            raise RemoteError(
                f"transaction kept conflicting after {ATTEMPTS} attempts: {last}",
                code="ServiceUnavailable",
            )
        raise Unavailable(
            f"PostgreSQL at {self._target} is unreachable: {_describe(last)}"
        ) from last


async def _rollback(conn: Conn) -> None:
    """End a failed transaction before the connection goes back to the pool (the pool's own
    reset would do it too, but logs each one as a leak). Shielded: it also runs for a
    cancelled caller, whose connection must not stay inside a transaction."""
    if _gone(conn):
        return
    with anyio.CancelScope(shield=True):
        try:
            await conn.execute("ROLLBACK", timeout=ROLLBACK_TIMEOUT)
        except Exception:
            _discard(conn)


def _gone(conn: Conn) -> bool:
    """Whether the connection is closed; one that died while we held it has already been
    taken back by the pool, and its proxy refuses every call."""
    try:
        return conn.is_closed()
    except pgerr.InterfaceError:
        return True


def _discard(conn: Conn) -> None:
    if not _gone(conn):
        conn.terminate()


async def _release(pool: asyncpg.Pool[asyncpg.Record], conn: Conn) -> None:
    with anyio.CancelScope(shield=True):
        try:
            await pool.release(conn)
        except Exception:
            log.exception("could not return a connection to the pool")
            _discard(conn)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt was made"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
