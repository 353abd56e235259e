"""Conformance: bucket versioning (Enabled / Suspended), version ids, delete markers, reads
and deletes by version id, the "null" version, DeleteObjects with versions, and refcounts."""

from __future__ import annotations

import email.utils

import pytest

from protocol.errors import RemoteError
from tests.workers.meta.meta_support import (
    World,
    add_part,
    blob_refcounts,
    etag_of,
    finish_upload,
    put,
    start_upload,
)
from workers.meta import ids

pytestmark = pytest.mark.anyio


async def failure(awaitable: object) -> RemoteError:
    with pytest.raises(RemoteError) as exc:
        await awaitable  # type: ignore[misc]
    return exc.value


async def keys_listed(world: World) -> list[str]:
    return [o.key for o in (await world.store.list_objects(world.alice, "alpha")).contents]


async def test_put_bucket_versioning(world: World) -> None:
    store = world.store
    assert (await store.head_bucket(world.alice, "alpha")).versioning == ""
    for status in ("Enabled", "Suspended", "Enabled"):
        await store.put_bucket_versioning(world.alice, "alpha", status)
        assert (await store.head_bucket(world.alice, "alpha")).versioning == status
    for bad in ("", "enabled", "Disabled"):
        error = await failure(store.put_bucket_versioning(world.alice, "alpha", bad))
        assert error.error_code == "MalformedXML"
    await store.put_bucket_acl(world.alice, "alpha", "public-read-write")
    denied = await failure(store.put_bucket_versioning(world.bob, "alpha", "Suspended"))
    assert denied.error_code == "AccessDenied"
    missing = await failure(store.put_bucket_versioning(world.alice, "nowhere", "Enabled"))
    assert missing.error_code == "NoSuchBucket"
    assert (await store.head_bucket(world.alice, "alpha")).versioning == "Enabled"


async def test_enabled_bucket_keeps_every_version(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    v1 = await put(store, world.alice, "alpha", "k", data=b"one")
    v2 = await put(store, world.alice, "alpha", "k", data=b"two")
    assert v1.version_id is not None and v2.version_id is not None
    assert ids.is_version_id(v1.version_id) and len(v1.version_id) == 32
    assert v1.version_id != v2.version_id
    assert v2.version_id < v1.version_id  # newer versions sort first
    assert await store.get_object_info(world.alice, "alpha", "k") == v2
    assert await store.get_object_info(world.alice, "alpha", "k", v1.version_id) == v1
    counts = await blob_refcounts(store)
    assert (counts[v1.blobs[0].sha256], counts[v2.blobs[0].sha256]) == (1, 1)
    listed = await store.list_objects(world.alice, "alpha")
    assert [(o.key, o.etag) for o in listed.contents] == [("k", etag_of(b"two"))]
    unknown = await failure(store.get_object_info(world.alice, "alpha", "k", "0" * 32))
    assert unknown.error_code == "NoSuchVersion"
    malformed = await failure(store.get_object_info(world.alice, "alpha", "k", "not-an-id"))
    assert malformed.error_code == "InvalidArgument"


async def test_delete_markers(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    v1 = await put(store, world.alice, "alpha", "k", data=b"kept under a marker")
    deleted = await store.delete_object(world.alice, "alpha", "k")
    assert deleted.delete_marker
    marker = deleted.version_id
    assert marker is not None and ids.is_version_id(marker) and marker != v1.version_id
    hidden = await failure(store.get_object_info(world.alice, "alpha", "k"))
    assert hidden.error_code == "NoSuchKey"
    assert hidden.details == {
        "header:x-amz-delete-marker": "true",
        "header:x-amz-version-id": marker,
    }
    by_id = await failure(store.get_object_info(world.alice, "alpha", "k", marker))
    assert by_id.error_code == "MethodNotAllowed"
    modified = by_id.details.pop("header:Last-Modified")
    assert by_id.details == hidden.details
    assert email.utils.parsedate_to_datetime(modified).tzinfo is not None
    assert modified.endswith(" GMT")
    assert await keys_listed(world) == []
    assert await store.get_object_info(world.alice, "alpha", "k", v1.version_id) == v1
    assert (await blob_refcounts(store))[v1.blobs[0].sha256] == 1
    # A simple delete of a key that never existed still adds a marker, as on AWS.
    ghost = await store.delete_object(world.alice, "alpha", "never")
    assert ghost.delete_marker and ghost.version_id
    # A conditional create sees the key as absent; If-Match sees no object.
    refused = await failure(put(store, world.alice, "alpha", "k", data=b"x", if_match="*"))
    assert refused.error_code == "NoSuchKey"
    await put(store, world.alice, "alpha", "k", data=b"recreated", if_none_match="*")
    assert await keys_listed(world) == ["k"]


async def test_deleting_versions_for_good(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    v1 = await put(store, world.alice, "alpha", "k", data=b"first")
    v2 = await put(store, world.alice, "alpha", "k", data=b"second")
    assert v1.version_id and v2.version_id
    gone = await store.delete_object(world.alice, "alpha", "k", v2.version_id)
    assert (gone.version_id, gone.delete_marker) == (v2.version_id, False)
    assert (await blob_refcounts(store))[v2.blobs[0].sha256] == 0
    # The next newest version is the latest again.
    assert await store.get_object_info(world.alice, "alpha", "k") == v1
    marker = await store.delete_object(world.alice, "alpha", "k")
    assert marker.version_id
    undone = await store.delete_object(world.alice, "alpha", "k", marker.version_id)
    assert (undone.version_id, undone.delete_marker) == (marker.version_id, True)
    assert await store.get_object_info(world.alice, "alpha", "k") == v1
    # An id that names nothing: success, echoed. A malformed one: InvalidArgument.
    echo = await store.delete_object(world.alice, "alpha", "k", "1" * 32)
    assert (echo.version_id, echo.delete_marker) == ("1" * 32, False)
    bad = await failure(store.delete_object(world.alice, "alpha", "k", "1" * 31))
    assert bad.error_code == "InvalidArgument"
    # Deleting a specific version is the bucket owner's; a simple delete is any writer's.
    await store.put_bucket_acl(world.alice, "alpha", "public-read-write")
    denied = await failure(store.delete_object(world.bob, "alpha", "k", v1.version_id))
    assert denied.error_code == "AccessDenied"
    by_bob = await store.delete_object(world.bob, "alpha", "k")
    assert by_bob.delete_marker
    await store.delete_object(world.alice, "alpha", "k", v1.version_id)
    assert (await blob_refcounts(store))[v1.blobs[0].sha256] == 0


async def test_suspended_bucket_writes_the_null_version(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    v1 = await put(store, world.alice, "alpha", "k", data=b"enabled era")
    await store.put_bucket_versioning(world.alice, "alpha", "Suspended")
    n1 = await put(store, world.alice, "alpha", "k", data=b"null one")
    assert n1.version_id == "null"
    n2 = await put(store, world.alice, "alpha", "k", data=b"null two")
    assert n2.version_id == "null"
    counts = await blob_refcounts(store)
    assert (counts[v1.blobs[0].sha256], counts[n1.blobs[0].sha256]) == (1, 0)
    assert counts[n2.blobs[0].sha256] == 1
    # A simple delete replaces the null version by a null marker; v1 stays.
    deleted = await store.delete_object(world.alice, "alpha", "k")
    assert (deleted.version_id, deleted.delete_marker) == ("null", True)
    assert (await blob_refcounts(store))[n2.blobs[0].sha256] == 0
    hidden = await failure(store.get_object_info(world.alice, "alpha", "k"))
    assert hidden.details["header:x-amz-version-id"] == "null"
    marker = await failure(store.get_object_info(world.alice, "alpha", "k", "null"))
    assert marker.error_code == "MethodNotAllowed"
    assert await store.get_object_info(world.alice, "alpha", "k", v1.version_id) == v1
    versions = await store.list_object_versions(world.alice, "alpha")
    assert [(v.version_id, v.delete_marker, v.is_latest) for v in versions.versions] == [
        ("null", True, True),
        (v1.version_id, False, False),
    ]
    # A write replaces the null marker; deleting "null" by id then promotes v1.
    n3 = await put(store, world.alice, "alpha", "k", data=b"null three")
    assert await store.get_object_info(world.alice, "alpha", "k") == n3
    await store.delete_object(world.alice, "alpha", "k", "null")
    assert await store.get_object_info(world.alice, "alpha", "k") == v1


async def test_objects_from_before_versioning_become_null_versions(world: World) -> None:
    store = world.store
    old = await put(store, world.alice, "alpha", "k", data=b"unversioned")
    assert old.version_id is None
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    as_null = await store.get_object_info(world.alice, "alpha", "k")
    assert as_null.version_id == "null"
    new = await put(store, world.alice, "alpha", "k", data=b"versioned")
    assert new.version_id not in (None, "null")
    assert (await store.get_object_info(world.alice, "alpha", "k", "null")).etag == old.etag
    assert (await blob_refcounts(store))[old.blobs[0].sha256] == 1
    await store.delete_object(world.alice, "alpha", "k", "null")
    assert (await blob_refcounts(store))[old.blobs[0].sha256] == 0
    assert await store.get_object_info(world.alice, "alpha", "k") == new


async def test_delete_objects_with_versions(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    a = await put(store, world.alice, "alpha", "a", data=b"a")
    b = await put(store, world.alice, "alpha", "b", data=b"b")
    assert b.version_id
    result = await store.delete_objects(
        world.alice, "alpha", ["a", "b", "c", "b"], [None, b.version_id, "bogus", "2" * 32]
    )
    assert [(d.key, d.version_id, d.delete_marker) for d in result.deleted] == [
        ("a", result.deleted[0].version_id, True),
        ("b", b.version_id, False),
        ("b", "2" * 32, False),
    ]
    assert ids.is_version_id(result.deleted[0].version_id or "")
    assert [(e.key, e.code) for e in result.errors] == [("c", "NoSuchVersion")]
    assert (await blob_refcounts(store))[b.blobs[0].sha256] == 0
    marker = result.deleted[0].version_id
    undo = await store.delete_objects(world.alice, "alpha", ["a"], [marker])
    assert [(d.version_id, d.delete_marker) for d in undo.deleted] == [(marker, True)]
    assert await store.get_object_info(world.alice, "alpha", "a") == a
    await store.put_bucket_acl(world.alice, "alpha", "public-read-write")
    by_bob = await store.delete_objects(world.bob, "alpha", ["a", "a"], [a.version_id, None])
    assert [(e.key, e.code) for e in by_bob.errors] == [("a", "AccessDenied")]
    assert [d.delete_marker for d in by_bob.deleted] == [True]
    mismatch = await failure(store.delete_objects(world.alice, "alpha", ["a", "b"], [None]))
    assert mismatch.error_code == "InvalidArgument"


async def test_multipart_complete_adds_a_version(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    before = await put(store, world.alice, "alpha", "k", data=b"single put")
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    part = await add_part(store, world.alice, "alpha", "k", upload_id, 1, b"multipart body")
    info = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, part.md5)])
    assert info.version_id and info.version_id not in ("null", before.version_id)
    assert await store.get_object_info(world.alice, "alpha", "k") == info
    assert await store.get_object_info(world.alice, "alpha", "k", before.version_id) == before
    counts = await blob_refcounts(store)
    assert (counts[before.blobs[0].sha256], counts[part.sha256]) == (1, 1)


async def test_versions_and_markers_keep_the_bucket_non_empty(world: World) -> None:
    store = world.store
    await store.put_bucket_versioning(world.alice, "alpha", "Enabled")
    v1 = await put(store, world.alice, "alpha", "k")
    marker = await store.delete_object(world.alice, "alpha", "k")
    assert (await failure(store.delete_bucket(world.alice, "alpha"))).error_code == "BucketNotEmpty"
    await store.delete_object(world.alice, "alpha", "k", v1.version_id)
    assert (await failure(store.delete_bucket(world.alice, "alpha"))).error_code == "BucketNotEmpty"
    await store.delete_object(world.alice, "alpha", "k", marker.version_id)
    await store.delete_bucket(world.alice, "alpha")
