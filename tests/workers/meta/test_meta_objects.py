"""Conformance: object commit, lookup, delete, conditional writes and blob refcounts."""

from __future__ import annotations

import os
import time

import pytest

from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.meta import BlobRef, CommitObject
from tests.workers.meta.meta_support import World, blob_refcounts, etag_of, put, write_blob

pytestmark = pytest.mark.anyio


async def test_commit_then_get_info_round_trips_every_field(world: World) -> None:
    store = world.store
    data = b"some object body"
    ref = write_blob(store.base_path, data)
    before = time.time()
    committed = await store.commit_object(
        CommitObject(
            principal=world.alice,
            bucket="alpha",
            key="dir/file.txt",
            size=len(data),
            etag='"' + etag_of(data) + '"',
            blobs=[ref],
            headers={"content-type": "text/plain", "cache-control": "no-cache"},
            user_meta={"colour": "blue"},
            checksums={"CRC32": "AAAAAA=="},
            storage_class="STANDARD",
        )
    )
    info = await store.get_object_info(world.alice, "alpha", "dir/file.txt")
    assert info == committed
    assert info.bucket == "alpha"
    assert info.key == "dir/file.txt"
    assert info.size == len(data)
    assert info.etag == etag_of(data)  # stored unquoted
    assert info.blobs == [ref]
    assert info.headers == {"content-type": "text/plain", "cache-control": "no-cache"}
    assert info.user_meta == {"colour": "blue"}
    assert info.checksums == {"CRC32": "AAAAAA=="}
    assert info.storage_class == "STANDARD"
    assert info.owner_id == world.alice
    assert info.owner_name == "alice"
    assert info.version_id is None  # never-versioned bucket
    assert not info.delete_marker
    assert not info.corrupt
    assert before - 0.001 <= info.last_modified <= time.time() + 0.001
    assert round(info.last_modified, 3) == info.last_modified


async def test_get_missing_key_and_version(world: World) -> None:
    with pytest.raises(RemoteError) as exc:
        await world.store.get_object_info(world.alice, "alpha", "absent")
    assert exc.value.error_code == "NoSuchKey"
    await put(world.store, world.alice, "alpha", "k")
    info = await world.store.get_object_info(world.alice, "alpha", "k", version_id="null")
    assert info.key == "k"
    # A well-formed id that names no version, then one no version can have.
    with pytest.raises(RemoteError) as exc:
        await world.store.get_object_info(world.alice, "alpha", "k", version_id="0" * 32)
    assert exc.value.error_code == "NoSuchVersion"
    with pytest.raises(RemoteError) as exc:
        await world.store.get_object_info(world.alice, "alpha", "k", version_id="v123")
    assert exc.value.error_code == "InvalidArgument"


async def test_commit_validation(world: World) -> None:
    store = world.store
    ref = write_blob(store.base_path, b"abc")

    async def attempt(**fields: object) -> str:
        base: dict[str, object] = {
            "principal": world.alice,
            "bucket": "alpha",
            "key": "k",
            "size": 3,
            "etag": etag_of(b"abc"),
            "blobs": [ref],
        }
        base.update(fields)
        with pytest.raises(RemoteError) as exc:
            await store.commit_object(CommitObject(**base))  # type: ignore[arg-type]
        return exc.value.error_code

    assert await attempt(key="k" * 1025) == "KeyTooLongError"
    assert await attempt(key="é" * 513) == "KeyTooLongError"  # 1,026 bytes in UTF-8
    assert await attempt(key="") == "InvalidArgument"
    assert await attempt(size=4) == "InvalidArgument"
    assert await attempt(etag="") == "InvalidArgument"
    assert await attempt(blobs=[BlobRef(sha256="../../etc/passwd", size=3)]) == "InvalidArgument"
    assert await attempt(blobs=[BlobRef(sha256=ref.sha256.upper(), size=3)]) == "InvalidArgument"
    assert await attempt(if_none_match='"abc"') == "NotImplemented"
    # A 1,024-byte key is fine.
    await put(store, world.alice, "alpha", "k" * 1024)


async def test_unusual_keys_are_plain_strings(world: World) -> None:
    keys = ["../x", "//double", "%2F", "a+b c", "/leading", "ünï/cödé", "emoji-\U0001f600", "x\n"]
    for key in keys:
        await put(world.store, world.alice, "alpha", key, data=key.encode())
    for key in keys:
        info = await world.store.get_object_info(world.alice, "alpha", key)
        assert info.size == len(key.encode())


async def test_overwrite_replaces_and_moves_references(world: World) -> None:
    store = world.store
    first = await put(store, world.alice, "alpha", "k", data=b"one")
    second = await put(store, world.alice, "alpha", "k", data=b"two")
    info = await store.get_object_info(world.alice, "alpha", "k")
    assert info.etag == second.etag
    counts = await blob_refcounts(store)
    assert counts[first.blobs[0].sha256] == 0
    assert counts[second.blobs[0].sha256] == 1
    orphans = await store.orphaned_blobs(time.time() + 1, 10)
    assert [row.sha256 for row in orphans] == [first.blobs[0].sha256]
    assert orphans[0].orphaned_at is not None


async def test_same_content_overwrite_never_orphans(world: World) -> None:
    store = world.store
    info = await put(store, world.alice, "alpha", "k", data=b"same")
    os.unlink(blob_path(store.base_path, info.blobs[0].sha256))
    # The blob row is referenced, so no revival check happens and the count stays 1.
    await store.commit_object(
        CommitObject(
            principal=world.alice,
            bucket="alpha",
            key="k",
            size=info.size,
            etag=info.etag,
            blobs=info.blobs,
        )
    )
    assert (await blob_refcounts(store))[info.blobs[0].sha256] == 1
    assert await store.orphaned_blobs(time.time() + 1, 10) == []


async def test_dedup_and_repeated_parts_count_every_reference(world: World) -> None:
    store = world.store
    a = await put(store, world.alice, "alpha", "a", data=b"shared")
    await put(store, world.alice, "alpha", "b", data=b"shared")
    sha = a.blobs[0].sha256
    assert (await blob_refcounts(store))[sha] == 2
    part = a.blobs[0]
    await store.commit_object(
        CommitObject(
            principal=world.alice,
            bucket="alpha",
            key="multi",
            size=part.size * 3,
            etag="abc-3",
            blobs=[part, part, part],
        )
    )
    assert (await blob_refcounts(store))[sha] == 5
    await store.delete_object(world.alice, "alpha", "multi")
    await store.delete_object(world.alice, "alpha", "a")
    assert (await blob_refcounts(store))[sha] == 1
    assert await store.orphaned_blobs(time.time() + 1, 10) == []
    await store.delete_object(world.alice, "alpha", "b")
    assert (await blob_refcounts(store))[sha] == 0
    assert [row.sha256 for row in await store.orphaned_blobs(time.time() + 1, 10)] == [sha]


async def test_delete_is_idempotent(world: World) -> None:
    store = world.store
    await put(store, world.alice, "alpha", "k")
    deleted = await store.delete_object(world.alice, "alpha", "k")
    assert deleted.key == "k"
    assert not deleted.delete_marker
    again = await store.delete_object(world.alice, "alpha", "k")
    assert again.key == "k"
    never = await store.delete_object(world.alice, "alpha", "never-existed")
    assert never.key == "never-existed"
    with pytest.raises(RemoteError) as exc:
        await store.get_object_info(world.alice, "alpha", "k")
    assert exc.value.error_code == "NoSuchKey"


async def test_delete_objects(world: World) -> None:
    store = world.store
    for key in ("a", "b", "c"):
        await put(store, world.alice, "alpha", key, data=key.encode())
    result = await store.delete_objects(world.alice, "alpha", ["a", "c", "missing"])
    assert [d.key for d in result.deleted] == ["a", "c", "missing"]
    assert result.errors == []
    listed = await store.list_objects(world.alice, "alpha")
    assert [o.key for o in listed.contents] == ["b"]
    denied = await store.delete_objects(world.bob, "alpha", ["b"])
    assert denied.deleted == []
    assert [(e.key, e.code) for e in denied.errors] == [("b", "AccessDenied")]
    for keys in ([], [f"k{i}" for i in range(1001)]):
        with pytest.raises(RemoteError) as exc:
            await store.delete_objects(world.alice, "alpha", keys)
        assert exc.value.error_code == "MalformedXML"
    thousand = await store.delete_objects(world.alice, "alpha", [f"k{i}" for i in range(1000)])
    assert len(thousand.deleted) == 1000


async def test_if_none_match_star(world: World) -> None:
    store = world.store
    await put(store, world.alice, "alpha", "k", data=b"first", if_none_match="*")
    with pytest.raises(RemoteError) as exc:
        await put(store, world.alice, "alpha", "k", data=b"second", if_none_match="*")
    assert exc.value.error_code == "PreconditionFailed"
    assert (await store.get_object_info(world.alice, "alpha", "k")).etag == etag_of(b"first")
    # After a delete the key is absent again.
    await store.delete_object(world.alice, "alpha", "k")
    await put(store, world.alice, "alpha", "k", data=b"third", if_none_match="*")


async def test_if_match(world: World) -> None:
    store = world.store
    with pytest.raises(RemoteError) as exc:
        await put(store, world.alice, "alpha", "k", data=b"x", if_match=etag_of(b"x"))
    assert exc.value.error_code == "NoSuchKey"
    await put(store, world.alice, "alpha", "k", data=b"v1")
    with pytest.raises(RemoteError) as exc:
        await put(store, world.alice, "alpha", "k", data=b"v2", if_match=etag_of(b"other"))
    assert exc.value.error_code == "PreconditionFailed"
    await put(store, world.alice, "alpha", "k", data=b"v2", if_match=f'"{etag_of(b"v1")}"')
    await put(store, world.alice, "alpha", "k", data=b"v3", if_match=etag_of(b"v2"))
    await put(store, world.alice, "alpha", "k", data=b"v4", if_match="*")
    assert (await store.get_object_info(world.alice, "alpha", "k")).etag == etag_of(b"v4")


async def test_refused_commit_changes_nothing_and_leaks_no_blob(world: World) -> None:
    store = world.store
    kept = await put(store, world.alice, "alpha", "k", data=b"kept")
    with pytest.raises(RemoteError):
        await put(store, world.alice, "alpha", "k", data=b"refused", if_none_match="*")
    with pytest.raises(RemoteError):
        await put(store, world.bob, "alpha", "k2", data=b"denied")
    counts = await blob_refcounts(store)
    assert counts[kept.blobs[0].sha256] == 1
    refused = write_blob(store.base_path, b"refused").sha256
    denied = write_blob(store.base_path, b"denied").sha256
    # The uploaded blobs are registered as orphans, so GC will remove their files.
    assert counts[refused] == 0
    assert counts[denied] == 0
    orphans = {row.sha256 for row in await store.orphaned_blobs(time.time() + 1, 10)}
    assert orphans == {refused, denied}
    assert (await store.get_object_info(world.alice, "alpha", "k")).etag == kept.etag


async def test_new_blob_must_exist_on_disk(world: World) -> None:
    store = world.store
    ghost = BlobRef(sha256="ab" * 32, size=5)
    with pytest.raises(RemoteError) as exc:
        await store.commit_object(
            CommitObject(
                principal=world.alice, bucket="alpha", key="k", size=5, etag="e", blobs=[ghost]
            )
        )
    assert exc.value.error_code == "BlobMissing"
    ref = write_blob(store.base_path, b"12345")
    with pytest.raises(RemoteError) as exc:
        await store.commit_object(
            CommitObject(
                principal=world.alice,
                bucket="alpha",
                key="k",
                size=4,
                etag="e",
                blobs=[BlobRef(sha256=ref.sha256, size=4)],
            )
        )
    assert exc.value.error_code == "BlobMissing"  # wrong size on disk
    with pytest.raises(RemoteError) as exc:
        await store.get_object_info(world.alice, "alpha", "k")
    assert exc.value.error_code == "NoSuchKey"


async def test_revived_blob_is_checked_on_disk(world: World) -> None:
    store = world.store
    info = await put(store, world.alice, "alpha", "k", data=b"revive me")
    ref = info.blobs[0]
    await store.delete_object(world.alice, "alpha", "k")
    assert (await blob_refcounts(store))[ref.sha256] == 0
    # GC removed the file (or crashed after unlinking it) but the row is still there.
    os.unlink(blob_path(store.base_path, ref.sha256))
    with pytest.raises(RemoteError) as exc:
        await store.commit_object(
            CommitObject(
                principal=world.alice,
                bucket="alpha",
                key="k2",
                size=ref.size,
                etag=info.etag,
                blobs=[ref],
            )
        )
    assert exc.value.error_code == "BlobMissing"
    assert (await blob_refcounts(store))[ref.sha256] == 0
    # With the file back (the blob worker stored it again) the revival succeeds.
    write_blob(store.base_path, b"revive me")
    await put(store, world.alice, "alpha", "k2", data=b"revive me")
    assert (await blob_refcounts(store))[ref.sha256] == 1
    assert await store.orphaned_blobs(time.time() + 1, 10) == []


async def test_known_blob_with_different_size_is_refused(world: World) -> None:
    store = world.store
    info = await put(store, world.alice, "alpha", "k", data=b"size-five")
    ref = info.blobs[0]
    with pytest.raises(RemoteError) as exc:
        await store.commit_object(
            CommitObject(
                principal=world.alice,
                bucket="alpha",
                key="other",
                size=ref.size + 1,
                etag="e",
                blobs=[BlobRef(sha256=ref.sha256, size=ref.size + 1)],
            )
        )
    assert exc.value.error_code == "BlobSizeMismatch"
    assert (await blob_refcounts(store))[ref.sha256] == 1


async def test_anonymous_write_to_public_bucket_has_no_owner(world: World) -> None:
    store = world.store
    await store.put_bucket_acl(world.alice, "alpha", "public-read-write")
    info = await put(store, None, "alpha", "anon")
    assert info.owner_id == ""
    assert info.owner_name == ""
