"""Conformance: ListObjects order, delimiters, pagination, and skipping common prefixes."""

from __future__ import annotations

import anyio
import pytest

from protocol.errors import RemoteError
from protocol.meta import CommitObject, ObjectList
from tests.workers.meta.meta_support import World, etag_of, put, write_blob
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio


async def fill(world: World, keys: list[str]) -> None:
    for key in keys:
        await put(world.store, world.alice, "alpha", key, data=b"x")


def entries(page: ObjectList) -> list[str]:
    """Keys and common prefixes merged in the order a client sees them."""
    return sorted(
        [o.key for o in page.contents] + list(page.common_prefixes), key=lambda s: s.encode()
    )


async def walk(store: MetaStore, principal: str, max_keys: int, **options: str) -> list[str]:
    """Every entry of a listing, page by page, following next_after."""
    seen: list[str] = []
    after = options.pop("after", "")
    for _ in range(1000):
        page = await store.list_objects(
            principal, "alpha", after=after, max_keys=max_keys, **options
        )
        got = entries(page)
        assert len(got) <= max_keys
        seen.extend(got)
        if not page.is_truncated:
            return seen
        assert got, "a truncated page must make progress"
        assert page.next_after == got[-1]
        after = page.next_after
    raise AssertionError("listing did not terminate")


UNICODE_KEYS = ["a", "B", "a/b", "é", "z", "ä", "\U0001f600", "\ufffd", "ab", "a b", "Z", "~"]


async def test_keys_list_in_utf8_binary_order(world: World) -> None:
    await fill(world, UNICODE_KEYS)
    page = await world.store.list_objects(world.alice, "alpha")
    assert [o.key for o in page.contents] == sorted(UNICODE_KEYS, key=lambda s: s.encode())
    assert not page.is_truncated
    assert page.common_prefixes == []
    first = page.contents[0]
    assert first.size == 1
    assert first.etag == etag_of(b"x")
    assert first.owner_id == world.alice
    assert first.owner_name == "alice"
    assert first.storage_class == "STANDARD"


async def test_pagination_in_binary_order(world: World) -> None:
    await fill(world, UNICODE_KEYS)
    expected = sorted(UNICODE_KEYS, key=lambda s: s.encode())
    for size in (1, 2, 5, 1000):
        assert await walk(world.store, world.alice, size) == expected


async def test_delimiter_merges_contents_and_common_prefixes(world: World) -> None:
    await fill(world, ["a/1", "a/2", "b", "c/x/y", "c/z", "d", "é/1", "é"])
    page = await world.store.list_objects(world.alice, "alpha", delimiter="/")
    assert [o.key for o in page.contents] == ["b", "d", "é"]
    assert page.common_prefixes == ["a/", "c/", "é/"]
    assert not page.is_truncated
    sub = await world.store.list_objects(world.alice, "alpha", prefix="c/", delimiter="/")
    assert [o.key for o in sub.contents] == ["c/z"]
    assert sub.common_prefixes == ["c/x/"]
    for size in (1, 2, 3):
        assert await walk(world.store, world.alice, size, delimiter="/") == [
            "a/",
            "b",
            "c/",
            "d",
            "é",
            "é/",
        ]


async def test_prefix_bounds(world: World) -> None:
    await fill(world, ["a", "ab", "abc", "ac", "b", "a\U0010ffff", "a\U0010ffffz"])
    page = await world.store.list_objects(world.alice, "alpha", prefix="ab")
    assert [o.key for o in page.contents] == ["ab", "abc"]
    page = await world.store.list_objects(world.alice, "alpha", prefix="a\U0010ffff")
    assert [o.key for o in page.contents] == ["a\U0010ffff", "a\U0010ffffz"]
    page = await world.store.list_objects(world.alice, "alpha", prefix="nothing")
    assert page.contents == []
    assert not page.is_truncated


async def test_multi_character_delimiter(world: World) -> None:
    await fill(world, ["x--1", "x--2", "x-3", "y"])
    page = await world.store.list_objects(world.alice, "alpha", delimiter="--")
    assert [o.key for o in page.contents] == ["x-3", "y"]
    assert page.common_prefixes == ["x--"]


async def test_after_marker(world: World) -> None:
    await fill(world, ["a/1", "a/2", "b", "c"])
    page = await world.store.list_objects(world.alice, "alpha", after="a/1")
    assert [o.key for o in page.contents] == ["a/2", "b", "c"]
    # A marker inside a common prefix does not repeat that prefix (it sorts before it).
    page = await world.store.list_objects(world.alice, "alpha", after="a/1", delimiter="/")
    assert entries(page) == ["b", "c"]
    page = await world.store.list_objects(world.alice, "alpha", after="a/", delimiter="/")
    assert entries(page) == ["b", "c"]
    page = await world.store.list_objects(world.alice, "alpha", after="zzz")
    assert page.contents == []
    assert not page.is_truncated


async def test_max_keys_limits(world: World) -> None:
    await fill(world, ["a", "b"])
    page = await world.store.list_objects(world.alice, "alpha", max_keys=0)
    assert page.contents == []
    assert page.common_prefixes == []
    assert page.is_truncated
    page = await world.store.list_objects(world.alice, "alpha", max_keys=2)
    assert [o.key for o in page.contents] == ["a", "b"]
    assert not page.is_truncated
    assert page.next_after == "b"
    for bad in (-1, 1001):
        with pytest.raises(RemoteError) as exc:
            await world.store.list_objects(world.alice, "alpha", max_keys=bad)
        assert exc.value.error_code == "InvalidArgument"


# The seek logic is the engine's, not the event loop's: one backend keeps the suite fast.
# PostgreSQL makes each commit durable on its own (no group commit across requests), so it
# fills fewer keys in the same time; the bound on rows read is the same for both.
KEYS_UNDER_PREFIX = {"sqlite": 20_000, "postgres": 2_000}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_delimiter_listing_seeks_past_a_large_common_prefix(
    engine: str, world: World
) -> None:
    store = world.store
    ref = write_blob(store.base_path, b"x")
    keys = [f"big/{i:05d}" for i in range(KEYS_UNDER_PREFIX[engine])]

    async def commit_range(start: int) -> None:
        for key in keys[start : start + 100]:
            await store.commit_object(
                CommitObject(
                    principal=world.alice,
                    bucket="alpha",
                    key=key,
                    size=1,
                    etag=etag_of(b"x"),
                    blobs=[ref],
                )
            )

    async with anyio.create_task_group() as tg:
        for start in range(0, len(keys), 100):
            tg.start_soon(commit_range, start)
    await fill(world, ["a", "c", "big", "bigger"])

    before = store.listing_rows_read
    page = await store.list_objects(world.alice, "alpha", delimiter="/")
    assert [o.key for o in page.contents] == ["a", "big", "bigger", "c"]
    assert page.common_prefixes == ["big/"]
    # One row of the thousands under "big/" is read, then the walk seeks past them all.
    assert store.listing_rows_read - before <= 10

    before = store.listing_rows_read
    page = await store.list_objects(world.alice, "alpha", prefix="big/", max_keys=3)
    assert [o.key for o in page.contents] == ["big/00000", "big/00001", "big/00002"]
    assert page.is_truncated
    assert store.listing_rows_read - before <= 4

    before = store.listing_rows_read
    page = await store.list_objects(world.alice, "alpha", after="big/", delimiter="/")
    assert [o.key for o in page.contents] == ["bigger", "c"]
    assert store.listing_rows_read - before <= 10
