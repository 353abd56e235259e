"""Exactly one GC pass at a time: in this process (a local lock) and, with Redis configured,
across every node sharing the database (a Redis lease with a fencing token, redis_lock.py).

Modes:
- Redis disabled (single node): the local lock only, as before distributed mode existed.
- Redis configured and reachable: local lock, then the cluster lease. While the pass runs a
  keeper task extends the lease every third of its TTL; `GCGuard.check()` runs before each
  destructive step and stops the pass (OperationAborted) once the lease is lost.
- Redis configured but down: the pass is SKIPPED (ServiceUnavailable "GC lock service
  unavailable"). Falling back to the local lock would let two nodes collect at once, so no
  node collects until Redis answers again; orphans simply wait for a later pass.

Fencing (why the token goes to the database): a lease can expire under a holder that was
paused (GC pause of the VM, a stalled disk), and Redis can lose the lease and the counter
(restart without persistence, failover to a lagging replica). So each holder records its
token in the database's gc_state ("gc_fence") before its first destructive step, and
`check()` refuses to go on when the database holds a NEWER token: the database is the source
of truth and survives Redis losing its data, and new tokens are forced above the recorded one
(acquire's `floor`). `check()` also re-confirms the lease in Redis (compare-and-PEXPIRE), which
catches a holder whose lease expired even before a successor recorded anything. What remains
is a holder that passed `check()` and then paused right before its transaction: the store
cannot check the token inside its transactions, and that overlap is harmless because every
destructive transaction re-checks its own precondition under the writer's lock (refcount 0
and orphaned long enough, no blob row, upload still expired), so two passes at worst try to
delete the same thing and the second finds nothing left to delete.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from protocol.errors import RemoteError, Unavailable
from workers.meta.redis_client import RedisLink, RedisUnavailable
from workers.meta.redis_lock import Lease, RedisLock
from workers.meta.store import MetaStore

log = logging.getLogger("alexanderd.meta.gc")

FENCE_STATE = "gc_fence"
LOCK_NAME = "gc"
DEFAULT_LEASE_TTL = 30.0
LOCK_UNAVAILABLE = "GC lock service unavailable"
BUSY_CODE = "OperationAborted"


def lock_unavailable(why: str) -> Unavailable:
    return Unavailable(
        f"{LOCK_UNAVAILABLE} (redis: {why}); no GC pass runs on any node until Redis answers"
    )


def gc_busy() -> RemoteError:
    return RemoteError(
        "a GC pass is already running on another node (the cluster GC lock is held)",
        code=BUSY_CODE,
    )


def fenced(why: str) -> RemoteError:
    return RemoteError(f"GC pass stopped: {why}", code=BUSY_CODE)


class GCGuard:
    """What a running pass calls before each destructive step."""

    def __init__(
        self,
        store: MetaStore,
        lock: RedisLock | None = None,
        lease: Lease | None = None,
        ttl: float = DEFAULT_LEASE_TTL,
    ) -> None:
        self._store = store
        self._lock = lock
        self._lease = lease
        self._ttl = ttl
        self.lost = ""  # why this holder may no longer act; "" while it may

    @property
    def lease(self) -> Lease | None:
        return self._lease

    @property
    def token(self) -> int | None:
        """The fencing token; None under the local lock only."""
        return None if self._lease is None else self._lease.token

    async def check(self) -> None:
        """Return if this holder may still act, else raise OperationAborted (for good)."""
        if self._lock is None or self._lease is None:
            return
        if not self.lost:
            recorded = await recorded_token(self._store)
            if recorded > self._lease.token:
                self.lost = (
                    f"a newer GC holder (fencing token {recorded}) started; this one holds"
                    f" token {self._lease.token}"
                )
        if not self.lost:
            await self.keep()
        if self.lost:
            raise fenced(self.lost)

    async def keep(self) -> None:
        """Extend the lease (compare-and-PEXPIRE); on failure the guard is lost."""
        if self._lock is None or self._lease is None or self.lost:
            return
        try:
            held = await self._lock.extend(self._lease, self._ttl)
        except RedisUnavailable as exc:
            self.lost = f"cannot confirm the GC lock: {exc}"
            return
        if not held:
            self.lost = "the GC lock expired and this holder no longer owns it"


async def recorded_token(store: MetaStore) -> int:
    value = await store.gc_state(FENCE_STATE)
    return int(value) if value.isdigit() else 0


class GCExclusion:
    """The GC lock of one meta process: `async with exclusion.hold() as guard:`."""

    def __init__(
        self, store: MetaStore, link: RedisLink | None, *, lease_ttl: float = DEFAULT_LEASE_TTL
    ) -> None:
        if lease_ttl <= 0:
            raise ValueError(f"GC lease TTL must be positive, got {lease_ttl}")
        self._store = store
        self._link = link
        self._ttl = lease_ttl
        self._local = anyio.Lock()
        self._lock = None if link is None else RedisLock(link, LOCK_NAME)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[GCGuard]:
        """Hold the GC lock for one pass. ServiceUnavailable when Redis is configured but
        down, OperationAborted when another node holds the lock."""
        async with self._local:
            if self._lock is None:
                yield GCGuard(self._store)
                return
            guard = await self._acquire(self._lock)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._keep, guard)
                    try:
                        yield guard
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._release(self._lock, guard)

    async def _acquire(self, lock: RedisLock) -> GCGuard:
        assert self._link is not None
        if not self._link.available:
            log.warning("gc lock: redis unavailable (%s); skipping the pass", self._link.detail)
            raise lock_unavailable(self._link.detail)
        recorded = await recorded_token(self._store)
        try:
            lease = await lock.acquire(self._ttl, floor=recorded)
        except RedisUnavailable as exc:
            raise lock_unavailable(str(exc)) from exc
        if lease is None:
            raise gc_busy()
        guard = GCGuard(self._store, lock, lease, self._ttl)
        try:
            # Durable before any destructive step: from here on an older holder that wakes
            # up finds a newer token in the database, whatever Redis remembers.
            await self._store.set_gc_state(FENCE_STATE, str(lease.token))
            await guard.check()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._release(lock, guard)
            raise
        return guard

    async def _keep(self, guard: GCGuard) -> None:
        while not guard.lost:
            await anyio.sleep(self._ttl / 3)
            await guard.keep()
        log.warning("gc lock lost during a pass: %s", guard.lost)

    async def _release(self, lock: RedisLock, guard: GCGuard) -> None:
        if guard.lease is None:
            return
        try:
            await lock.release(guard.lease)
        except RedisUnavailable as exc:
            # The lease expires by itself within its TTL.
            log.warning("gc lock not released (%s); it expires within %.0f s", exc, self._ttl)
