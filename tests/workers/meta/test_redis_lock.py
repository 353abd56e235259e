"""The Redis lease (redis_lock.py) and the GC lock built on it (gc_lock.py) against the real
Redis: mutual exclusion between two nodes' lock instances, expiry and extension, fencing
tokens, compare-and-delete, a paused holder fenced out, Redis losing its data, and GC passes
skipped while the lock service is down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.lifecycle import GCSettings, RedisSettings
from protocol.meta import GCReport, RunGC
from tests.workers.meta.meta_support import open_engine, put
from tests.workers.meta.redis_support import (
    dead_settings,
    flush_prefix,
    new_prefix,
    open_link,
    sync_client,
)
from workers.meta import gc
from workers.meta.dispatch import MetaServices, dispatch
from workers.meta.gc_lock import FENCE_STATE, GCExclusion, recorded_token
from workers.meta.redis_client import RedisLink
from workers.meta.redis_lock import RedisLock
from workers.meta.store import MetaStore

pytestmark = [pytest.mark.anyio, pytest.mark.redis]
GC = GCSettings(grace_period=0, batch_size=100)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def node_a(settings: RedisSettings, prefix: str) -> AsyncIterator[RedisLink]:
    async with open_link(settings, prefix) as link:
        yield link


@pytest.fixture
async def node_b(settings: RedisSettings, prefix: str) -> AsyncIterator[RedisLink]:
    async with open_link(settings, prefix) as link:
        yield link


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MetaStore]:
    async with open_engine("sqlite", tmp_path / "data") as opened:
        yield opened


async def expire_now(key: str) -> None:
    """Make a lease run out as if its holder had been paused past the TTL."""
    with sync_client() as client:
        client.pexpire(key, 1)
        with anyio.fail_after(10):
            while client.exists(key):  # noqa: ASYNC110 - polling Redis, which has no event
                await anyio.sleep(0.005)


async def test_two_instances_exclude_each_other(node_a: RedisLink, node_b: RedisLink) -> None:
    lock_a, lock_b = RedisLock(node_a, "job"), RedisLock(node_b, "job")
    first = await lock_a.acquire(30)
    assert first is not None
    assert await lock_b.acquire(30) is None
    assert await lock_a.acquire(30) is None  # a second acquisition is another holder
    assert await lock_b.holder() == first.owner
    assert await lock_a.release(first)
    second = await lock_b.acquire(30)
    assert second is not None and second.token > first.token
    assert await lock_b.latest_token() == second.token
    assert await lock_b.release(second)
    assert await lock_a.holder() is None


async def test_expiry_frees_the_lock_and_extension_keeps_it(
    node_a: RedisLink, node_b: RedisLink
) -> None:
    lock_a, lock_b = RedisLock(node_a, "job"), RedisLock(node_b, "job")
    lease = await lock_a.acquire(1)
    assert lease is not None
    assert await lock_a.extend(lease, 120)
    with sync_client() as client:
        assert client.pttl(lock_a.key) > 60_000  # the extension, not the original 1 s
    assert await lock_b.acquire(30) is None
    await expire_now(lock_a.key)
    taken = await lock_b.acquire(30)
    assert taken is not None and taken.token == lease.token + 1


async def test_an_expired_holder_cannot_extend_or_delete_the_next_lease(
    node_a: RedisLink, node_b: RedisLink
) -> None:
    lock_a, lock_b = RedisLock(node_a, "job"), RedisLock(node_b, "job")
    old = await lock_a.acquire(30)
    assert old is not None
    await expire_now(lock_a.key)
    new = await lock_b.acquire(30)
    assert new is not None
    assert not await lock_a.extend(old, 30)
    assert not await lock_a.release(old)
    assert await lock_b.holder() == new.owner  # compare-and-delete left it alone
    assert await lock_b.extend(new, 30)


async def test_the_floor_lifts_tokens_above_a_recorded_one(node_a: RedisLink) -> None:
    lock = RedisLock(node_a, "job")
    lease = await lock.acquire(30, floor=41)
    assert lease is not None and lease.token == 42
    assert await lock.release(lease)
    again = await lock.acquire(30, floor=5)  # a lower floor changes nothing
    assert again is not None and again.token == 43
    with pytest.raises(ValueError, match="TTL must be positive"):
        await lock.acquire(0)


async def orphan(store: MetaStore, owner: str, key: str, data: bytes) -> str:
    info = await put(store, owner, "alpha", key, data=data)
    await store.delete_object(owner, "alpha", key)
    return info.blobs[0].sha256


async def world(store: MetaStore) -> str:
    alice = await store.create_user("alice")
    await store.create_bucket(alice.user_id, "alpha")
    return alice.user_id


async def test_a_pass_holds_the_cluster_lock_and_records_its_token(
    store: MetaStore, node_a: RedisLink
) -> None:
    alice = await world(store)
    sha = await orphan(store, alice, "k", b"garbage")
    exclusion = GCExclusion(store, node_a)
    report = await gc.run_gc_exclusive(exclusion, store, GC)
    assert report.deleted == 1
    assert not await anyio.Path(blob_path(store.base_path, sha)).exists()
    lock = RedisLock(node_a, "gc")
    assert await recorded_token(store) == await lock.latest_token() > 0
    assert await lock.holder() is None  # released after the pass


async def test_another_node_holding_the_lock_means_busy(
    store: MetaStore, node_a: RedisLink, node_b: RedisLink
) -> None:
    alice = await world(store)
    sha = await orphan(store, alice, "k", b"garbage")
    services_b = MetaServices(redis=node_b, gc_lock=GCExclusion(store, node_b))
    async with GCExclusion(store, node_a).hold() as guard:
        assert guard.token is not None
        with pytest.raises(RemoteError) as caught:
            await dispatch(store, GC, RunGC(), services=services_b)
        assert caught.value.error_code == "OperationAborted"
        assert "another node" in caught.value.message
    assert await anyio.Path(blob_path(store.base_path, sha)).exists()
    report = await dispatch(store, GC, RunGC(), services=services_b)
    assert isinstance(report, GCReport) and report.deleted == 1


async def test_a_paused_holder_is_fenced_out(
    store: MetaStore, node_a: RedisLink, node_b: RedisLink
) -> None:
    alice = await world(store)
    sha = await orphan(store, alice, "k", b"garbage")
    exclusion_a, exclusion_b = GCExclusion(store, node_a), GCExclusion(store, node_b)
    async with exclusion_a.hold() as stale:
        await stale.check()  # holds the lock right now
        # A pauses past its lease; B takes the lock and records a newer token.
        await expire_now(RedisLock(node_a, "gc").key)
        async with exclusion_b.hold() as fresh:
            assert fresh.token is not None and stale.token is not None
            assert fresh.token > stale.token
            assert await recorded_token(store) == fresh.token
            # A wakes up mid-pass: its next destructive step is refused.
            with pytest.raises(RemoteError) as caught:
                await gc.run_gc(store, GC, guard=stale)
            assert caught.value.error_code == "OperationAborted"
            assert f"fencing token {fresh.token}" in caught.value.message
            assert await anyio.Path(blob_path(store.base_path, sha)).exists()
            with pytest.raises(RemoteError):
                await stale.check()  # fenced for good
            report = await gc.run_gc(store, GC, guard=fresh)
            assert report.deleted == 1
    assert not await anyio.Path(blob_path(store.base_path, sha)).exists()


async def test_an_expired_lease_fences_before_anyone_else_records(
    store: MetaStore, node_a: RedisLink
) -> None:
    async with GCExclusion(store, node_a).hold() as guard:
        await expire_now(RedisLock(node_a, "gc").key)
        with pytest.raises(RemoteError) as caught:
            await guard.check()
        assert "no longer owns it" in caught.value.message


async def test_redis_losing_its_data_cannot_hand_out_an_old_token(
    store: MetaStore, node_a: RedisLink, node_b: RedisLink, prefix: str
) -> None:
    exclusion_a, exclusion_b = GCExclusion(store, node_a), GCExclusion(store, node_b)
    async with exclusion_a.hold() as stale:
        assert stale.token is not None
        flush_prefix(prefix)  # a restart without persistence: lock and counter gone
        async with exclusion_b.hold() as fresh:
            assert fresh.token is not None and fresh.token > stale.token
            with pytest.raises(RemoteError, match="newer GC holder"):
                await stale.check()
            await fresh.check()
    assert await store.gc_state(FENCE_STATE) == str(fresh.token)


def skipped(caplog: pytest.LogCaptureFixture) -> int:
    return sum("gc pass skipped" in record.getMessage() for record in caplog.records)


async def test_gc_is_skipped_while_the_lock_service_is_down(
    store: MetaStore, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await world(store)
    sha = await orphan(store, alice, "k", b"garbage")
    async with open_link(dead_settings(), new_prefix()) as dead:
        services = MetaServices(redis=dead, gc_lock=GCExclusion(store, dead))
        with pytest.raises(RemoteError) as caught:
            await dispatch(store, GC, RunGC(), services=services)
        assert caught.value.error_code == "ServiceUnavailable"
        assert caught.value.message.startswith("GC lock service unavailable")
        # The background loop skips its passes the same way, and keeps going.
        caplog.set_level(logging.WARNING, logger="alexanderd.meta.gc")
        loop = GCSettings(interval=0.01, grace_period=0)
        async with anyio.create_task_group() as tg:
            await tg.start(partial(gc.serve_gc, exclusion=services.gc_lock), loop, store)
            with anyio.fail_after(30):
                while skipped(caplog) < 2:  # noqa: ASYNC110 - log records have no event
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert store.stats.gc_runs == 0 and store.stats.gc_failures == 0
    assert await anyio.Path(blob_path(store.base_path, sha)).exists()


async def test_without_redis_passes_take_turns_under_the_local_lock(store: MetaStore) -> None:
    exclusion = GCExclusion(store, None)
    order: list[str] = []
    entered = anyio.Event()

    async def second() -> None:
        await entered.wait()
        async with exclusion.hold() as guard:
            assert guard.token is None
            order.append("second")

    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        async with exclusion.hold() as guard:
            entered.set()
            await guard.check()  # nothing to confirm without Redis
            for _ in range(10):
                await anyio.lowlevel.checkpoint()  # let `second` try, and block on the lock
            order.append("first")
    assert order == ["first", "second"]
