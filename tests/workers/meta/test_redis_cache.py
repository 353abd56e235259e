"""The generation-tagged cache against the real Redis: the protocol itself (a write between a
reader's miss and its fill leaves nothing stale; stale entries are refused on read), and two
"nodes" (two links and two MetaCaches over ONE SQLite store, as two meta processes over one
PostgreSQL) seeing each other's writes through dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from protocol.base import Message
from protocol.errors import RemoteError
from protocol.lifecycle import GCSettings, RedisSettings
from protocol.meta import (
    AccessKeyInfo,
    BucketInfo,
    DeleteBucket,
    DeleteObject,
    DeleteUser,
    GetAccessKey,
    GetObjectInfo,
    HeadBucket,
    ObjectInfo,
    PutBucketAcl,
    PutBucketVersioning,
    RevokeKey,
)
from tests.workers.meta.meta_support import MASTER_KEY, open_engine, put
from tests.workers.meta.redis_support import (
    open_link,
    sync_client,
)
from workers.meta.credentials import SecretBox, parse_master_key
from workers.meta.dispatch import MetaServices, dispatch
from workers.meta.meta_cache import MetaCache
from workers.meta.redis_cache import GenerationCache, Ticket
from workers.meta.redis_client import RedisLink
from workers.meta.store import MetaStore

pytestmark = [pytest.mark.anyio, pytest.mark.redis]
GC = GCSettings()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MetaStore]:
    async with open_engine("sqlite", tmp_path / "data") as opened:
        yield opened


@dataclass
class Node:
    """One meta process's view: its own link and cache, the shared database."""

    store: MetaStore
    link: RedisLink
    cache: MetaCache

    async def ask(self, msg: Message) -> Message:
        services = MetaServices(redis=self.link, cache=self.cache)
        return await dispatch(self.store, GC, msg, services=services)

    async def info(self, who: str | None, bucket: str, key: str) -> ObjectInfo:
        reply = await self.ask(GetObjectInfo(principal=who, bucket=bucket, key=key))
        assert isinstance(reply, ObjectInfo)
        return reply


@asynccontextmanager
async def open_node(store: MetaStore, settings: RedisSettings, prefix: str) -> AsyncIterator[Node]:
    async with open_link(settings, prefix) as link:
        yield Node(store, link, MetaCache(store, link, parse_master_key(MASTER_KEY)))


@pytest.fixture
async def nodes(
    store: MetaStore, settings: RedisSettings, prefix: str
) -> AsyncIterator[tuple[Node, Node]]:
    async with open_node(store, settings, prefix) as a, open_node(store, settings, prefix) as b:
        yield a, b


async def users(store: MetaStore) -> tuple[str, str]:
    alice = await store.create_user("alice")
    bob = await store.create_user("bob")
    await store.create_bucket(alice.user_id, "alpha")
    return alice.user_id, bob.user_id


# -- the protocol ---------------------------------------------------------------------


async def test_a_write_between_miss_and_fill_leaves_no_stale_entry(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as a, open_link(settings, prefix) as b:
        reader, writer = GenerationCache(a), GenerationCache(b)
        ticket, found = await reader.lookup("b:x", ["n"])
        assert ticket is not None and found == [None]
        # The reader has read the database ("old"); a writer commits and bumps...
        await writer.bump("b:x")
        # ...before the reader's fill arrives: refused.
        assert not await reader.fill(ticket, "n", b"old")
        ticket, found = await reader.lookup("b:x", ["n"])
        assert ticket is not None and found == [None]
        assert await reader.fill(ticket, "n", b"new")
        _, found = await writer.lookup("b:x", ["n"])
        assert found == [b"new"]


async def test_several_entries_fill_together_or_not_at_all(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as link:
        cache = GenerationCache(link)
        stale, _ = await cache.lookup("b:x", ["m", "n"])
        assert stale is not None
        await cache.bump("b:x")
        assert not await cache.fill_many(stale, {"m": b"1", "n": b"2"})
        with sync_client() as client:
            assert not client.exists(cache.entry_key("m"), cache.entry_key("n"))
        ticket, _ = await cache.lookup("b:x", ["m", "n"])
        assert ticket is not None and await cache.fill_many(ticket, {"m": b"1", "n": b"2"})
        _, found = await cache.lookup("b:x", ["m", "n"])
        assert found == [b"1", b"2"]


async def test_an_entry_of_an_older_generation_is_refused_on_read(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as link:
        cache = GenerationCache(link)
        ticket, _ = await cache.lookup("b:x", ["n"])
        assert ticket is not None and await cache.fill(ticket, "n", b"v1")
        await cache.bump("b:x")
        with sync_client() as client:
            assert client.exists(cache.entry_key("n"))  # still stored...
        _, found = await cache.lookup("b:x", ["n"])
        assert found == [None]  # ...but never served


async def test_entries_live_at_most_the_ttl_from_their_read(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as link:
        cache = GenerationCache(link, ttl=30)
        ticket, _ = await cache.lookup("b:x", ["n"])
        assert ticket is not None and await cache.fill(ticket, "n", b"v")
        with sync_client() as client:
            assert 0 < client.pttl(cache.entry_key("n")) <= 30_000
        late = Ticket(ticket.scope, ticket.epoch, ticket.gen, ticket.read_at - 30)
        assert not await cache.fill(late, "m", b"v")  # read too long ago to be trusted
        with pytest.raises(ValueError, match="TTL must be positive"):
            GenerationCache(link, ttl=0)


async def test_a_lost_generation_is_reseeded_not_restarted(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as link:
        cache = GenerationCache(link)
        ticket, _ = await cache.lookup("b:x", ["n"])
        assert ticket is not None and await cache.fill(ticket, "n", b"v")
        with sync_client() as client:
            client.delete(cache.gen_key("b:x"))  # evicted
            _, found = await cache.lookup("b:x", ["n"])
            assert found == [None]
            reseeded = client.get(cache.gen_key("b:x"))
        assert reseeded is not None and reseeded.decode() != ticket.gen


async def test_an_epoch_from_another_redis_process_is_replaced(
    settings: RedisSettings, prefix: str
) -> None:
    async with open_link(settings, prefix) as link:
        cache = GenerationCache(link)
        ticket, _ = await cache.lookup("b:x", ["n"])
        assert ticket is not None and await cache.fill(ticket, "n", b"v")
        renewed = cache.renewals  # the first lookup under a new prefix found no epoch
        # As after a restore from a snapshot taken by another Redis process: an epoch naming
        # that process, and entries carrying it.
        foreign = "0" * 40 + "/restored"
        with sync_client() as client:
            client.set(cache.link.key("epoch"), foreign)
            restored = Ticket(ticket.scope, foreign, ticket.gen, ticket.read_at)
            assert await cache.fill(restored, "n", b"from the snapshot")
            _, found = await cache.lookup("b:x", ["n"])
            assert found == [None]
            epoch = client.get(cache.link.key("epoch"))
        assert epoch is not None and epoch.decode().startswith(link.server_id + "/")
        assert cache.renewals == renewed + 1


# -- two nodes over one database ------------------------------------------------------


async def test_each_node_sees_the_other_nodes_object_writes(
    store: MetaStore, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    alice, _ = await users(store)
    first = await put(store, alice, "alpha", "k", data=b"one")
    await a.cache.bucket_changed("alpha")
    assert (await a.info(alice, "alpha", "k")).etag == first.etag
    assert (a.cache.hits, a.cache.misses) == (0, 1)
    assert (await b.info(alice, "alpha", "k")).etag == first.etag
    assert b.cache.hits == 1  # filled by node A
    second = await put(store, alice, "alpha", "k", data=b"two")
    await a.ask(DeleteObject(principal=alice, bucket="alpha", key="other"))  # a write on A
    assert (await b.info(alice, "alpha", "k")).etag == second.etag
    await a.ask(DeleteObject(principal=alice, bucket="alpha", key="k"))
    with pytest.raises(RemoteError) as caught:
        await b.info(alice, "alpha", "k")
    assert caught.value.error_code == "NoSuchKey"


async def test_cached_entries_still_answer_access_denied(
    store: MetaStore, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    alice, bob = await users(store)
    await put(store, alice, "alpha", "k")
    await a.info(alice, "alpha", "k")
    for who in (bob, None):
        with pytest.raises(RemoteError) as caught:
            await b.info(who, "alpha", "k")
        assert caught.value.error_code == "AccessDenied"
    assert b.cache.hits == 2  # decided from the cached bucket, as the database would
    await a.ask(PutBucketAcl(principal=alice, bucket="alpha", acl="public-read"))
    assert (await b.info(None, "alpha", "k")).key == "k"
    with pytest.raises(RemoteError) as caught:
        await b.ask(HeadBucket(principal=bob, bucket="alpha", write=True))
    assert caught.value.error_code == "AccessDenied"


async def test_bucket_changes_reach_the_other_node(
    store: MetaStore, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    alice, _ = await users(store)
    head = HeadBucket(principal=alice, bucket="alpha")
    before = await b.ask(head)
    assert isinstance(before, BucketInfo) and before.versioning == ""
    assert isinstance(await a.ask(head), BucketInfo) and a.cache.hits == 1
    await a.ask(PutBucketVersioning(principal=alice, bucket="alpha", status="Enabled"))
    after = await b.ask(head)
    assert isinstance(after, BucketInfo) and after.versioning == "Enabled"
    await a.ask(DeleteBucket(principal=alice, bucket="alpha"))
    with pytest.raises(RemoteError) as caught:
        await b.ask(head)
    assert caught.value.error_code == "NoSuchBucket"


async def test_access_keys_are_sealed_and_revocation_reaches_every_node(
    store: MetaStore, nodes: tuple[Node, Node]
) -> None:
    a, b = nodes
    await store.create_user("carol")
    key = await store.create_key("carol")
    ask = GetAccessKey(access_key_id=key.access_key_id)
    got = await a.ask(ask)
    assert isinstance(got, AccessKeyInfo) and got.secret == key.secret
    got = await b.ask(ask)
    assert isinstance(got, AccessKeyInfo) and got.secret == key.secret and b.cache.hits == 1
    with sync_client() as client:
        entry = client.get(a.cache.generations.entry_key(f"k:{key.access_key_id}"))
        stored = [client.get(k) or b"" for k in client.scan_iter(match=f"{a.link.prefix}*")]
    assert entry is not None
    assert not any(key.secret.encode() in value for value in stored)
    # What is there is the secret sealed under the master key, bound to this key id.
    sealed = msgspec.msgpack.decode(msgspec.msgpack.decode(entry)[2])[4]
    box = SecretBox(parse_master_key(MASTER_KEY))
    assert box.open(key.access_key_id, sealed) == key.secret
    await a.ask(RevokeKey(access_key_id=key.access_key_id))
    got = await b.ask(ask)
    assert isinstance(got, AccessKeyInfo) and got.status == "Inactive"
    await a.ask(DeleteUser(name="carol"))
    with pytest.raises(RemoteError) as caught:
        await b.ask(ask)
    assert caught.value.error_code == "InvalidAccessKeyId"


async def test_versioned_reads_bypass_the_cache(store: MetaStore, nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    alice, _ = await users(store)
    await store.put_bucket_versioning(alice, "alpha", "Enabled")
    v1 = await put(store, alice, "alpha", "k", data=b"one")
    assert v1.version_id is not None
    reply = await a.ask(
        GetObjectInfo(principal=alice, bucket="alpha", key="k", version_id=v1.version_id)
    )
    assert isinstance(reply, ObjectInfo) and reply.etag == v1.etag
    assert (a.cache.hits, a.cache.misses) == (0, 0)
