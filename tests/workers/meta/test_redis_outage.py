"""Redis trouble: a node whose invalidation failed (its connection cut by a relay while Redis
stays up for the other node) and the epoch renewal that closes the window; a meta process
with Redis configured but unreachable serving everything from the database; writes that
the cache learns about from scrub and multipart completion; serve_meta wired with Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from protocol.base import Done
from protocol.channel import connect_unix
from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.lifecycle import BootMeta, DatabaseSettings, GCSettings, RedisSettings
from protocol.meta import (
    BucketInfo,
    CommitObject,
    CompletedPart,
    CompleteMultipartUpload,
    CreateBucket,
    CreateUser,
    DeleteObject,
    GetAccessKey,
    HeadBucket,
    ObjectInfo,
    Ping,
    Pong,
    RunGC,
    RunScrub,
    ScrubReport,
    UserInfo,
)
from tests.workers.meta.meta_support import (
    MASTER_KEY,
    add_part,
    etag_of,
    open_engine,
    put,
    start_upload,
    write_blob,
)
from tests.workers.meta.redis_support import (
    dead_settings,
    new_prefix,
    open_relay,
    sync_client,
)
from tests.workers.meta.test_redis_cache import open_node
from workers.meta.dispatch import MetaServices, dispatch
from workers.meta.gc_lock import GCExclusion
from workers.meta.server import serve_meta
from workers.meta.store import MetaStore

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MetaStore]:
    async with open_engine("sqlite", tmp_path / "data") as opened:
        yield opened


def commit(store: MetaStore, who: str, key: str, data: bytes) -> CommitObject:
    ref = write_blob(store.base_path, data)
    return CommitObject(
        principal=who, bucket="alpha", key=key, size=len(data), etag=etag_of(data), blobs=[ref]
    )


async def alice_with_bucket(store: MetaStore) -> str:
    alice = await store.create_user("alice")
    await store.create_bucket(alice.user_id, "alpha")
    return alice.user_id


async def test_a_writer_that_could_not_invalidate_resyncs_before_trusting_the_cache(
    store: MetaStore, settings: RedisSettings, prefix: str
) -> None:
    alice = await alice_with_bucket(store)
    v1 = await put(store, alice, "alpha", "k", data=b"one")
    async with (
        open_relay() as relay,
        open_node(store, relay.settings(settings.db), prefix) as a,
        open_node(store, settings, prefix) as b,
    ):
        assert (await b.info(alice, "alpha", "k")).etag == v1.etag  # filled by B
        assert (await a.info(alice, "alpha", "k")).etag == v1.etag
        assert a.cache.hits == 1
        await relay.cut()
        # A's write commits; its invalidation cannot reach Redis.
        v2 = await a.ask(commit(store, alice, "k", b"two"))
        assert isinstance(v2, ObjectInfo)
        assert a.cache.generations.failed_bumps == 1 and not a.link.available
        # A itself never serves the old entry: it reads the database until it resyncs.
        assert (await a.info(alice, "alpha", "k")).etag == v2.etag
        assert a.cache.hits == 1
        # The documented window (a partition of the writer only): B still trusts its entry.
        assert (await b.info(alice, "alpha", "k")).etag == v1.etag
        relay.restore()
        assert await a.link.probe()  # the recovery hook replaces the epoch first
        assert a.cache.generations.usable and a.cache.generations.renewals >= 1
        assert (await b.info(alice, "alpha", "k")).etag == v2.etag
        assert (await a.info(alice, "alpha", "k")).etag == v2.etag
        assert a.cache.hits == 2  # A trusts the cache again, and it is current


async def test_with_redis_unreachable_everything_is_served_from_the_database(
    store: MetaStore,
) -> None:
    alice = await alice_with_bucket(store)
    await store.create_user("carol")
    key = await store.create_key("carol")
    async with open_node(store, dead_settings(), new_prefix()) as node:
        node_services = MetaServices(
            redis=node.link, cache=node.cache, gc_lock=GCExclusion(store, node.link)
        )
        pong = await node.ask(Ping())
        assert isinstance(pong, Pong) and pong.database
        assert pong.detail["redis"].startswith("unavailable: ")
        head = await node.ask(HeadBucket(principal=alice, bucket="alpha"))
        assert isinstance(head, BucketInfo) and head.name == "alpha"
        written = await node.ask(commit(store, alice, "k", b"data"))
        assert isinstance(written, ObjectInfo)
        assert (await node.info(alice, "alpha", "k")).etag == written.etag
        got = await node.ask(GetAccessKey(access_key_id=key.access_key_id))
        assert getattr(got, "secret", None) == key.secret
        await node.ask(DeleteObject(principal=alice, bucket="alpha", key="k"))
        with pytest.raises(RemoteError) as caught:
            await node.info(alice, "alpha", "k")
        assert caught.value.error_code == "NoSuchKey"
        assert (node.cache.hits, node.cache.misses) == (0, 4)
        assert node.cache.generations.failed_bumps == 2  # remembered for the resync
        with pytest.raises(RemoteError) as caught:
            await dispatch(store, GCSettings(), RunGC(grace_period=0), services=node_services)
        assert caught.value.error_code == "ServiceUnavailable"
        assert "GC lock service unavailable" in caught.value.message


async def test_scrub_quarantine_reaches_cached_reads(
    store: MetaStore, settings: RedisSettings, prefix: str
) -> None:
    alice = await alice_with_bucket(store)
    info = await put(store, alice, "alpha", "k", data=b"soon rotten")
    async with open_node(store, settings, prefix) as a, open_node(store, settings, prefix) as b:
        assert not (await b.info(alice, "alpha", "k")).corrupt
        path = anyio.Path(blob_path(store.base_path, info.blobs[0].sha256))
        await path.write_bytes(b"S" + (await path.read_bytes())[1:])  # bitrot
        report = await a.ask(RunScrub())
        assert isinstance(report, ScrubReport) and report.objects_marked == 1
        assert (await b.info(alice, "alpha", "k")).corrupt


async def test_completing_an_upload_reaches_cached_reads(
    store: MetaStore, settings: RedisSettings, prefix: str
) -> None:
    alice = await alice_with_bucket(store)
    await put(store, alice, "alpha", "k", data=b"small")
    async with open_node(store, settings, prefix) as a, open_node(store, settings, prefix) as b:
        before = await b.info(alice, "alpha", "k")
        upload = await start_upload(store, alice, "alpha", "k")
        part = await add_part(store, alice, "alpha", "k", upload, 1, b"the only part")
        done = await a.ask(
            CompleteMultipartUpload(
                principal=alice,
                bucket="alpha",
                key="k",
                upload_id=upload,
                parts=[CompletedPart(part_number=1, etag=part.md5)],
            )
        )
        assert isinstance(done, ObjectInfo) and done.etag.endswith("-1")
        after = await b.info(alice, "alpha", "k")
        assert after.etag == done.etag != before.etag


def boot_for(tmp_path: Path, redis: RedisSettings, runtime: str = "asyncio") -> BootMeta:
    return BootMeta(
        socket_path=str(tmp_path / "meta.sock"),
        base_path=str(tmp_path / "srv"),
        database=DatabaseSettings(),
        master_key=MASTER_KEY,
        redis=redis,
        gc=GCSettings(enabled=True, interval=3600.0),
        runtime=runtime,
    )


async def test_serve_meta_boots_and_serves_with_redis_down(tmp_path: Path) -> None:
    boot = boot_for(tmp_path, dead_settings())
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        chan = await connect_unix(boot.socket_path)
        pong = await chan.request(Ping(), Pong)
        assert pong.database and pong.detail["redis"].startswith("unavailable: ")
        user = await chan.request(CreateUser(name="alice"), UserInfo)
        await chan.request(CreateBucket(principal=user.user_id, bucket="alpha"), BucketInfo)
        head = await chan.request(HeadBucket(principal=user.user_id, bucket="alpha"), BucketInfo)
        assert head.owner_name == "alice"
        with pytest.raises(RemoteError, match="GC lock service unavailable"):
            await chan.request(RunGC(), Done)
        tg.cancel_scope.cancel()
    # As in test_meta_server: close the client after the server stopped (anyio on asyncio
    # can report a benign InvalidStateError otherwise).
    await chan.aclose()


async def test_serve_meta_uses_the_cache(tmp_path: Path, settings: RedisSettings) -> None:
    # serve_meta uses the production prefix: a bucket name of its own keeps this test's keys
    # apart from anything else in this Redis, and they are removed one by one afterwards.
    bucket = f"cache-test-{secrets.token_hex(6)}"
    boot = boot_for(tmp_path, settings)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(serve_meta, boot)
            chan = await connect_unix(boot.socket_path)
            pong = await chan.request(Ping(), Pong)
            assert pong.detail["redis"] == "ok"
            user = await chan.request(CreateUser(name="alice"), UserInfo)
            await chan.request(CreateBucket(principal=user.user_id, bucket=bucket), BucketInfo)
            for _ in range(2):
                head = HeadBucket(principal=user.user_id, bucket=bucket)
                assert (await chan.request(head, BucketInfo)).name == bucket
            with sync_client() as client:
                stored = client.get(f"alexander:c:b:{bucket}")
            assert stored is not None and bucket.encode() in stored
            tg.cancel_scope.cancel()
        await chan.aclose()
    finally:
        with sync_client() as client:
            # The epoch too: deleting it costs any other user of this prefix a renewal only.
            client.delete(f"alexander:gen:b:{bucket}", f"alexander:c:b:{bucket}", "alexander:epoch")


async def test_redis_needs_the_asyncio_runtime(tmp_path: Path) -> None:
    boot = boot_for(tmp_path, RedisSettings(enabled=True), runtime="trio")
    with pytest.raises(ValueError, match="asyncio runtime"):
        await serve_meta(boot)
    assert not await anyio.Path(boot.socket_path).exists()
