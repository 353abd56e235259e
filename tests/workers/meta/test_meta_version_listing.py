"""Conformance: ListObjectVersions and ListMultipartUploads: order, markers, paging, prefixes,
delimiters with common prefixes (skipped with index seeks), limits and errors."""

from __future__ import annotations

import sqlite3

import pytest

from protocol.errors import RemoteError
from protocol.meta import ListMultipartUploads, UploadList, VersionList
from tests.workers.meta.meta_support import World, put, start_upload
from workers.meta.sqlite import migrate, upload_listing, version_listing
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio

Entry = tuple[str, str]  # (key, version id) or (common prefix, "")


async def versions_page(world: World, **query: object) -> VersionList:
    return await world.store.list_object_versions(world.alice, "alpha", **query)  # type: ignore[arg-type]


def entries(page: VersionList) -> list[Entry]:
    listed = [(v.key, v.version_id) for v in page.versions]
    listed += [(p, "") for p in page.common_prefixes]
    return sorted(listed, key=lambda e: e[0])


async def all_pages(world: World, size: int, **query: object) -> list[Entry]:
    """Every entry, fetched `size` at a time by following the next markers."""
    collected: list[Entry] = []
    key_marker, version_marker = "", ""
    while True:
        page = await versions_page(
            world, key_marker=key_marker, version_id_marker=version_marker, max_keys=size, **query
        )
        got = (
            entries(page)
            if query.get("delimiter")
            else [(v.key, v.version_id) for v in page.versions]
        )
        collected += got
        if not page.is_truncated:
            assert (page.next_key_marker, page.next_version_id_marker) == ("", "")
            return collected
        assert len(page.versions) + len(page.common_prefixes) == size
        key_marker, version_marker = page.next_key_marker, page.next_version_id_marker


async def history(world: World) -> list[Entry]:
    """Keys with several versions, markers, a null version and unicode, in S3 order."""
    store, alice = world.store, world.alice
    await put(store, alice, "alpha", "b", data=b"b-null")  # before versioning: null
    await store.put_bucket_versioning(alice, "alpha", "Enabled")
    made: dict[str, list[str]] = {}
    for key, rounds in (("a", 3), ("b", 2), ("dir/x", 2), ("dir/y", 1), ("é", 1), ("z", 1)):
        for n in range(rounds):
            info = await put(store, alice, "alpha", key, data=f"{key}{n}".encode())
            assert info.version_id
            made.setdefault(key, []).insert(0, info.version_id)
    marker = await store.delete_object(alice, "alpha", "z")
    assert marker.version_id
    made["z"].insert(0, marker.version_id)
    made["b"].append("null")
    order = sorted(made, key=lambda k: k.encode())
    return [(key, vid) for key in order for vid in made[key]]


async def test_versions_in_s3_order(world: World) -> None:
    expected = await history(world)
    page = await versions_page(world)
    assert [(v.key, v.version_id) for v in page.versions] == expected
    assert not page.is_truncated
    latest = {(v.key, v.version_id) for v in page.versions if v.is_latest}
    firsts: dict[str, str] = {}
    for key, vid in expected:
        firsts.setdefault(key, vid)
    assert latest == set(firsts.items())
    markers = [(v.key, v.size, v.etag) for v in page.versions if v.delete_marker]
    assert markers == [("z", 0, "")]
    null = next(v for v in page.versions if v.version_id == "null")
    assert (null.key, null.is_latest, null.size, null.owner_name) == ("b", False, 6, "alice")


@pytest.mark.parametrize("size", [1, 2, 3, 5])
async def test_paging_returns_everything_once(world: World, size: int) -> None:
    expected = await history(world)
    assert await all_pages(world, size) == expected


async def test_markers(world: World) -> None:
    expected = await history(world)
    a_versions = [vid for key, vid in expected if key == "a"]
    page = await versions_page(world, key_marker="a", version_id_marker=a_versions[0])
    assert [(v.key, v.version_id) for v in page.versions] == expected[1:]
    page = await versions_page(world, key_marker="a")
    assert [(v.key, v.version_id) for v in page.versions] == expected[3:]
    page = await versions_page(world, key_marker="b", version_id_marker="null")
    assert page.versions[0].key == "dir/x"
    # A marker version deleted since the last page still places the page correctly.
    await world.store.delete_object(world.alice, "alpha", "a", a_versions[1])
    page = await versions_page(world, key_marker="a", version_id_marker=a_versions[1])
    assert (page.versions[0].key, page.versions[0].version_id) == ("a", a_versions[2])
    for query in (
        {"version_id_marker": a_versions[0]},
        {"key_marker": "a", "version_id_marker": "garbage"},
        {"max_keys": 1001},
        {"max_keys": -1},
    ):
        with pytest.raises(RemoteError) as exc:
            await versions_page(world, **query)
        assert exc.value.error_code == "InvalidArgument"
    empty = await versions_page(world, max_keys=0)
    assert (empty.versions, empty.is_truncated) == ([], True)


async def test_prefix_and_delimiter(world: World) -> None:
    expected = await history(world)
    page = await versions_page(world, prefix="dir/")
    assert [(v.key, v.version_id) for v in page.versions] == [
        e for e in expected if e[0].startswith("dir/")
    ]
    page = await versions_page(world, delimiter="/")
    assert page.common_prefixes == ["dir/"]
    assert all(not v.key.startswith("dir/") for v in page.versions)
    outside = [e for e in expected if not e[0].startswith("dir/")] + [("dir/", "")]
    for size in (1, 2, 4):
        got = await all_pages(world, size, delimiter="/")
        assert sorted(got) == sorted(outside)
    page = await versions_page(world, prefix="dir/", key_marker="zzz")
    assert page.versions == []
    page = await versions_page(world, prefix="dir/", delimiter="/", key_marker="dir/x")
    assert [v.key for v in page.versions] == ["dir/y"]


async def test_delimiter_skips_a_large_prefix_with_one_seek(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    for i in range(60):
        await put(store, world.alice, "alpha", f"deep/{i:03d}", data=b"x")
        await put(store, world.alice, "alpha", f"deep/{i:03d}", data=b"y")
    await put(store, world.alice, "alpha", "top", data=b"t")
    before = store.listing_rows_read
    page = await versions_page(world, delimiter="/")
    assert page.common_prefixes == ["deep/"]
    assert [v.key for v in page.versions] == ["top"]
    assert store.listing_rows_read - before <= 3  # deep/000, top (not the 120 versions)


def test_version_and_upload_listings_seek_by_index() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        conn.isolation_level = None
        migrate.apply(conn)
        queries: list[tuple[str, tuple[object, ...], str]] = [
            (version_listing.SEEKS.in_key, ("b", "k", 5, 10), "objects_versions")
        ]
        queries += [
            (sql, ("b", "k", "z", 10) if bounded else ("b", "k", 10), "objects_versions")
            for (_, bounded), sql in version_listing.SEEKS.from_key.items()
        ]
        queries += [(upload_listing.SEEKS.in_key, ("b", "k", "u", 10), "uploads_pending")]
        queries += [
            (sql, ("b", "k", "z", 10) if bounded else ("b", "k", 10), "uploads_pending")
            for (_, bounded), sql in upload_listing.SEEKS.from_key.items()
        ]
        for sql, params, index in queries:
            plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert index in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # index order: no sort step
    finally:
        conn.close()


async def uploads_page(store: MetaStore, principal: str, **query: object) -> UploadList:
    return await store.list_multipart_uploads(
        ListMultipartUploads(principal=principal, bucket="alpha", **query)  # type: ignore[arg-type]
    )


async def test_multipart_upload_listing(world: World) -> None:
    store, alice = world.store, world.alice
    made: list[tuple[str, str]] = []
    for key in ("b", "a", "dir/1", "b", "dir/2", "c", "b", "e"):
        made.append((key, await start_upload(store, alice, "alpha", key)))
    # By key, then by initiation time (upload ids sort that way).
    expected = sorted(made, key=lambda e: (e[0].encode(), made.index(e)))
    page = await uploads_page(store, alice)
    assert [(u.key, u.upload_id) for u in page.uploads] == expected
    assert page.uploads[0].owner_name == "alice"
    for size in (1, 2, 3):
        got: list[tuple[str, str]] = []
        key_marker, upload_marker = "", ""
        while True:
            page = await uploads_page(
                store,
                alice,
                key_marker=key_marker,
                upload_id_marker=upload_marker,
                max_uploads=size,
            )
            got += [(u.key, u.upload_id) for u in page.uploads]
            if not page.is_truncated:
                break
            key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker
        assert got == expected
    b_ids = [uid for key, uid in expected if key == "b"]
    page = await uploads_page(store, alice, key_marker="b", upload_id_marker=b_ids[0])
    assert [u.upload_id for u in page.uploads][:2] == b_ids[1:]
    page = await uploads_page(store, alice, upload_id_marker=b_ids[0])  # ignored without a key
    assert len(page.uploads) == len(expected)
    page = await uploads_page(store, alice, delimiter="/")
    assert page.common_prefixes == ["dir/"]
    assert [u.key for u in page.uploads] == ["a", "b", "b", "b", "c", "e"]
    page = await uploads_page(store, alice, prefix="dir/", delimiter="/")
    assert [u.key for u in page.uploads] == ["dir/1", "dir/2"]
    page = await uploads_page(store, alice, delimiter="/", key_marker="c", max_uploads=1)
    assert (page.common_prefixes, page.is_truncated) == (["dir/"], True)
    assert (page.next_key_marker, page.next_upload_id_marker) == ("dir/", "")
    page = await uploads_page(store, alice, delimiter="/", key_marker="dir/")
    assert ([u.key for u in page.uploads], page.common_prefixes) == (["e"], [])
    with pytest.raises(RemoteError) as exc:
        await uploads_page(store, alice, max_uploads=1001)
    assert exc.value.error_code == "InvalidArgument"
    with pytest.raises(RemoteError) as exc:
        await uploads_page(store, world.bob)
    assert exc.value.error_code == "AccessDenied"
    await store.put_bucket_acl(alice, "alpha", "public-read")
    assert len((await uploads_page(store, world.bob)).uploads) == len(expected)
