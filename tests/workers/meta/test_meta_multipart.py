"""Conformance: multipart uploads (create, parts, list parts, complete, abort) with every AWS
error code, conditional completes, idempotent retries and exact blob refcounts."""

from __future__ import annotations

import base64
import time
import zlib
from collections.abc import Awaitable, Callable

import pytest
from awscrt import checksums as crt

from protocol.errors import RemoteError
from protocol.meta import (
    BlobRef,
    CompletedPart,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    ListMultipartUploads,
    ListParts,
    ObjectInfo,
    PartRegistered,
    RegisterPart,
    UploadCreated,
)
from tests.workers.meta.meta_support import (
    World,
    add_part,
    big,
    blob_refcounts,
    finish_upload,
    multipart_etag,
    put,
    start_upload,
    write_blob,
)
from workers.meta import ids

pytestmark = pytest.mark.anyio


async def code_of(awaitable: Awaitable[object]) -> str:
    with pytest.raises(RemoteError) as exc:
        await awaitable
    return exc.value.error_code


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


async def test_upload_lifecycle(world: World) -> None:
    store = world.store
    upload_id = await start_upload(
        store,
        world.alice,
        "alpha",
        "movie.mkv",
        headers={"content-type": "video/x-matroska"},
        user_meta={"take": "2"},
        storage_class="STANDARD",
    )
    assert ids.is_upload_id(upload_id)
    assert upload_id.isalnum() and upload_id.islower()
    first, last = big("first"), b"the tail"
    p1 = await add_part(store, world.alice, "alpha", "movie.mkv", upload_id, 1, first)
    p2 = await add_part(store, world.alice, "alpha", "movie.mkv", upload_id, 2, last)
    listed = await store.list_parts(
        ListParts(principal=world.alice, bucket="alpha", key="movie.mkv", upload_id=upload_id)
    )
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
        (1, p1.md5, len(first)),
        (2, p2.md5, len(last)),
    ]
    assert (listed.owner_id, listed.owner_name) == (world.alice, "alice")
    assert not listed.is_truncated
    uploads = await store.list_multipart_uploads(_uploads(world.alice))
    assert [(u.key, u.upload_id) for u in uploads.uploads] == [("movie.mkv", upload_id)]

    info = await finish_upload(
        store, world.alice, "alpha", "movie.mkv", upload_id, [(1, p1.md5), (2, f'"{p2.md5}"')]
    )
    assert info.blobs == [p1, p2]
    assert info.size == len(first) + len(last)
    assert info.etag == multipart_etag([first, last])
    assert info.headers == {"content-type": "video/x-matroska"}
    assert info.user_meta == {"take": "2"}
    assert info.version_id is None
    assert (info.owner_id, info.owner_name) == (world.alice, "alice")
    assert info.checksums == {}
    assert await store.get_object_info(world.alice, "alpha", "movie.mkv") == info
    # The object holds one reference per part; the upload holds none any more.
    counts = await blob_refcounts(store)
    assert (counts[p1.sha256], counts[p2.sha256]) == (1, 1)
    assert (await store.list_multipart_uploads(_uploads(world.alice))).uploads == []
    req = ListParts(principal=world.alice, bucket="alpha", key="movie.mkv", upload_id=upload_id)
    assert await code_of(store.list_parts(req)) == "NoSuchUpload"


def _uploads(principal: str | None) -> ListMultipartUploads:
    return ListMultipartUploads(principal=principal, bucket="alpha")


async def test_create_errors(world: World) -> None:
    store = world.store

    def create(**fields: object) -> Awaitable[UploadCreated]:
        base: dict[str, object] = {"principal": world.alice, "bucket": "alpha", "key": "k"}
        base.update(fields)
        return store.create_multipart_upload(CreateMultipartUpload(**base))  # type: ignore[arg-type]

    assert await code_of(create(bucket="missing")) == "NoSuchBucket"
    assert await code_of(create(principal=world.bob)) == "AccessDenied"
    assert await code_of(create(key="k" * 1025)) == "KeyTooLongError"
    assert await code_of(create(key="")) == "InvalidArgument"
    assert await code_of(create(checksum_algorithm="md5")) == "InvalidRequest"
    assert await code_of(create(checksum_type="COMPOSITE")) == "InvalidRequest"
    assert await code_of(create(checksum_algorithm="sha256", checksum_type="FULL_OBJECT")) == (
        "InvalidRequest"
    )
    assert await code_of(create(checksum_algorithm="crc64nvme", checksum_type="COMPOSITE")) == (
        "InvalidRequest"
    )
    assert await code_of(create(checksum_algorithm="crc32", checksum_type="PARTIAL")) == (
        "InvalidRequest"
    )


async def test_register_part_errors(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    ref = write_blob(store.base_path, b"part body")

    def register(**fields: object) -> Awaitable[PartRegistered]:
        base: dict[str, object] = {
            "principal": world.alice,
            "bucket": "alpha",
            "key": "k",
            "upload_id": upload_id,
            "part_number": 1,
            "blob": ref,
        }
        base.update(fields)
        return store.register_part(RegisterPart(**base))  # type: ignore[arg-type]

    assert await code_of(register(part_number=0)) == "InvalidArgument"
    assert await code_of(register(part_number=10001)) == "InvalidArgument"
    assert await code_of(register(upload_id="0" * 39)) == "NoSuchUpload"
    assert await code_of(register(key="other")) == "NoSuchUpload"
    assert await code_of(register(bucket="missing")) == "NoSuchBucket"
    assert await code_of(register(principal=world.bob)) == "AccessDenied"
    no_md5 = BlobRef(sha256=ref.sha256, size=ref.size)
    assert await code_of(register(blob=no_md5)) == "InvalidArgument"
    ghost = BlobRef(sha256="cd" * 32, size=3, md5="0" * 32)
    assert await code_of(register(blob=ghost)) == "BlobMissing"
    # Each refused part's blob is an orphan for GC (the ghost has no file: no row at all).
    counts = await blob_refcounts(store)
    assert counts == {ref.sha256: 0}
    await register(part_number=10000)
    assert (await blob_refcounts(store))[ref.sha256] == 1


async def test_replacing_a_part_gives_back_its_reference(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    old = await add_part(store, world.alice, "alpha", "k", upload_id, 3, b"first try")
    new = await add_part(store, world.alice, "alpha", "k", upload_id, 3, b"second try")
    again = await add_part(store, world.alice, "alpha", "k", upload_id, 3, b"second try")
    assert again == new
    counts = await blob_refcounts(store)
    assert (counts[old.sha256], counts[new.sha256]) == (0, 1)
    orphans = {row.sha256 for row in await store.orphaned_blobs(time.time() + 1, 10)}
    assert orphans == {old.sha256}
    info = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(3, new.md5)])
    assert info.blobs == [new]


async def test_complete_errors_leave_the_upload_usable(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    large = await add_part(store, world.alice, "alpha", "k", upload_id, 1, big("one"))
    small = await add_part(store, world.alice, "alpha", "k", upload_id, 2, b"small")
    tail = await add_part(store, world.alice, "alpha", "k", upload_id, 3, b"tail")

    def finish(parts: list[tuple[int, str]], **extra: object) -> Awaitable[ObjectInfo]:
        return finish_upload(store, world.alice, "alpha", "k", upload_id, parts, **extra)

    assert await code_of(finish([])) == "MalformedXML"
    assert await code_of(finish([(2, small.md5), (1, large.md5)])) == "InvalidPartOrder"
    assert await code_of(finish([(1, large.md5), (1, large.md5)])) == "InvalidPartOrder"
    assert await code_of(finish([(1, large.md5), (4, tail.md5)])) == "InvalidPart"
    assert await code_of(finish([(1, small.md5), (3, tail.md5)])) == "InvalidPart"
    assert await code_of(finish([(1, large.md5), (2, small.md5), (3, tail.md5)])) == (
        "EntityTooSmall"
    )
    assert await code_of(finish([(1, large.md5)], if_none_match='"x"')) == "NotImplemented"
    assert await code_of(
        finish_upload(store, world.alice, "alpha", "k", "0" * 39, [(1, large.md5)])
    ) == ("NoSuchUpload")
    assert await code_of(
        finish_upload(store, world.bob, "alpha", "k", upload_id, [(1, large.md5)])
    ) == ("AccessDenied")
    # None of that touched the upload: parts 1 and 3 complete it; part 2 becomes an orphan.
    info = await finish([(1, large.md5), (3, tail.md5.upper())])
    assert info.blobs == [large, tail]
    counts = await blob_refcounts(store)
    assert (counts[large.sha256], counts[small.sha256], counts[tail.sha256]) == (1, 0, 1)


async def test_a_single_part_may_be_small_or_empty(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "empty")
    part = await add_part(store, world.alice, "alpha", "empty", upload_id, 7, b"")
    info = await finish_upload(store, world.alice, "alpha", "empty", upload_id, [(7, part.md5)])
    assert (info.size, info.etag) == (0, multipart_etag([b""]))


async def test_completing_again_returns_the_same_object(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    part = await add_part(store, world.alice, "alpha", "k", upload_id, 1, b"only part")
    first = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, part.md5)])
    # A retry (the first answer was lost) gets the same object, even under If-None-Match.
    again = await finish_upload(
        store, world.alice, "alpha", "k", upload_id, [(1, f'"{part.md5}"')], if_none_match="*"
    )
    assert again == first
    other = await code_of(
        finish_upload(store, world.alice, "alpha", "k", upload_id, [(2, part.md5)])
    )
    assert other == "NoSuchUpload"
    assert await code_of(store.abort_multipart_upload(world.alice, "alpha", "k", upload_id)) == (
        "NoSuchUpload"
    )
    assert (await blob_refcounts(store))[part.sha256] == 1


async def test_conditional_complete(world: World) -> None:
    store = world.store
    existing = await put(store, world.alice, "alpha", "k", data=b"already here")
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    part = await add_part(store, world.alice, "alpha", "k", upload_id, 1, b"new body")
    parts = [(1, part.md5)]
    refused = finish_upload(store, world.alice, "alpha", "k", upload_id, parts, if_none_match="*")
    assert await code_of(refused) == "PreconditionFailed"
    wrong = finish_upload(store, world.alice, "alpha", "k", upload_id, parts, if_match='"nope"')
    assert await code_of(wrong) == "PreconditionFailed"
    missing = finish_upload(store, world.alice, "alpha", "gone", upload_id, parts, if_match="*")
    assert await code_of(missing) == "NoSuchUpload"
    # The refusals left the upload and its part reference in place.
    counts = await blob_refcounts(store)
    assert (counts[existing.blobs[0].sha256], counts[part.sha256]) == (1, 1)
    info = await finish_upload(
        store, world.alice, "alpha", "k", upload_id, parts, if_match=existing.etag
    )
    assert info.etag == multipart_etag([b"new body"])
    counts = await blob_refcounts(store)
    assert (counts[existing.blobs[0].sha256], counts[part.sha256]) == (0, 1)

    other = await start_upload(store, world.alice, "alpha", "fresh")
    part = await add_part(store, world.alice, "alpha", "fresh", other, 1, b"fresh body")
    no_key = finish_upload(
        store, world.alice, "alpha", "fresh", other, [(1, part.md5)], if_match="*"
    )
    assert await code_of(no_key) == "NoSuchKey"


async def test_abort_gives_back_every_part(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    refs = [
        await add_part(store, world.alice, "alpha", "k", upload_id, n, f"part {n}".encode())
        for n in (1, 2, 3)
    ]
    shared = await add_part(store, world.alice, "alpha", "k", upload_id, 4, b"part 1")
    assert shared == refs[0]
    assert (await blob_refcounts(store))[shared.sha256] == 2
    assert await code_of(store.abort_multipart_upload(world.bob, "alpha", "k", upload_id)) == (
        "AccessDenied"
    )
    assert await code_of(store.abort_multipart_upload(world.alice, "alpha", "x", upload_id)) == (
        "NoSuchUpload"
    )
    await store.abort_multipart_upload(world.alice, "alpha", "k", upload_id)
    assert set((await blob_refcounts(store)).values()) == {0}
    assert await code_of(store.abort_multipart_upload(world.alice, "alpha", "k", upload_id)) == (
        "NoSuchUpload"
    )
    req = ListParts(principal=world.alice, bucket="alpha", key="k", upload_id=upload_id)
    assert await code_of(store.list_parts(req)) == "NoSuchUpload"


async def test_list_parts_pages(world: World) -> None:
    store = world.store
    upload_id = await start_upload(
        store, world.alice, "alpha", "k", checksum_algorithm="crc32", storage_class="STANDARD"
    )
    for n in (5, 1, 3, 2, 4):
        await add_part(store, world.alice, "alpha", "k", upload_id, n, f"p{n}".encode())

    async def page(marker: int, size: int) -> tuple[list[int], bool, int]:
        got = await store.list_parts(
            ListParts(
                principal=world.alice,
                bucket="alpha",
                key="k",
                upload_id=upload_id,
                part_number_marker=marker,
                max_parts=size,
            )
        )
        assert (got.checksum_algorithm, got.checksum_type) == ("crc32", "COMPOSITE")
        return [p.part_number for p in got.parts], got.is_truncated, got.next_part_number_marker

    assert await page(0, 2) == ([1, 2], True, 2)
    assert await page(2, 2) == ([3, 4], True, 4)
    assert await page(4, 2) == ([5], False, 5)
    assert await page(5, 2) == ([], False, 0)
    assert await page(0, 0) == ([], True, 0)
    for bad in (
        ListParts(
            principal=world.alice, bucket="alpha", key="k", upload_id=upload_id, max_parts=1001
        ),
        ListParts(
            principal=world.alice,
            bucket="alpha",
            key="k",
            upload_id=upload_id,
            part_number_marker=-1,
        ),
    ):
        assert await code_of(store.list_parts(bad)) == "InvalidArgument"
    denied = ListParts(principal=world.bob, bucket="alpha", key="k", upload_id=upload_id)
    assert await code_of(store.list_parts(denied)) == "AccessDenied"


async def test_composite_checksums(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k", checksum_algorithm="CRC32")
    bodies = [big("a"), b"last"]
    crcs = [b64(zlib.crc32(body), 4) for body in bodies]
    refs = [
        await add_part(store, world.alice, "alpha", "k", upload_id, n, body, {"crc32": crc})
        for n, (body, crc) in enumerate(zip(bodies, crcs, strict=True), start=1)
    ]

    def complete(listed: list[dict[str, str]]) -> Awaitable[ObjectInfo]:
        parts = [
            CompletedPart(part_number=n, etag=ref.md5, checksums=sums)
            for n, (ref, sums) in enumerate(zip(refs, listed, strict=True), start=1)
        ]
        return store.complete_multipart_upload(
            CompleteMultipartUpload(
                principal=world.alice, bucket="alpha", key="k", upload_id=upload_id, parts=parts
            )
        )

    assert await code_of(complete([{"crc32": crcs[0]}, {}])) == "InvalidRequest"
    assert await code_of(complete([{"crc32": crcs[0]}, {"crc32": crcs[0]}])) == "InvalidPart"
    info = await complete([{"crc32": crcs[0]}, {"crc32": crcs[1]}])
    raw = b"".join(base64.b64decode(crc) for crc in crcs)
    assert info.checksums == {"crc32": f"{b64(zlib.crc32(raw), 4)}-2"}


@pytest.mark.parametrize(
    ("algorithm", "crc", "size"),
    [("crc64nvme", crt.crc64nvme, 8), ("crc32", zlib.crc32, 4), ("crc32c", crt.crc32c, 4)],
)
async def test_full_object_checksums(
    world: World, algorithm: str, crc: Callable[[bytes], int], size: int
) -> None:
    store = world.store
    upload_id = await start_upload(
        store, world.alice, "alpha", "k", checksum_algorithm=algorithm, checksum_type="FULL_OBJECT"
    )
    bodies = [big("x"), big("y", 5 * 1024 * 1024 + 3), b"end"]
    parts = []
    for n, body in enumerate(bodies, start=1):
        value = b64(crc(body), size)
        ref = await add_part(
            store, world.alice, "alpha", "k", upload_id, n, body, {algorithm: value}
        )
        parts.append((n, ref.md5))
    # FULL_OBJECT does not need the part checksums in the complete request.
    info = await finish_upload(store, world.alice, "alpha", "k", upload_id, parts)
    assert info.checksums == {algorithm: b64(crc(b"".join(bodies)), size)}


async def test_default_crc64nvme_without_an_algorithm(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    body = b"one part, checksummed by default"
    value = b64(crt.crc64nvme(body), 8)
    ref = await add_part(store, world.alice, "alpha", "k", upload_id, 1, body, {"crc64nvme": value})
    info = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, ref.md5)])
    assert info.checksums == {"crc64nvme": value}
    # A part without one (say, copied without recomputing): no object checksum at all.
    other = await start_upload(store, world.alice, "alpha", "k2", checksum_algorithm="sha256")
    ref = await add_part(store, world.alice, "alpha", "k2", other, 1, b"no checksum")
    info = await finish_upload(store, world.alice, "alpha", "k2", other, [(1, ref.md5)])
    assert info.checksums == {}


async def test_deleting_a_bucket_aborts_its_uploads(world: World) -> None:
    store = world.store
    await store.create_bucket(world.bob, "bravo")
    upload_id = await start_upload(store, world.bob, "bravo", "k")
    part = await add_part(store, world.bob, "bravo", "k", upload_id, 1, b"in flight")
    done = await start_upload(store, world.bob, "bravo", "d")
    kept = await add_part(store, world.bob, "bravo", "d", done, 1, b"completed")
    await finish_upload(store, world.bob, "bravo", "d", done, [(1, kept.md5)])
    assert await code_of(store.delete_bucket(world.bob, "bravo")) == "BucketNotEmpty"
    await store.delete_object(world.bob, "bravo", "d")
    await store.delete_bucket(world.bob, "bravo")
    counts = await blob_refcounts(store)
    assert (counts[part.sha256], counts[kept.sha256]) == (0, 0)
    await store.create_bucket(world.bob, "bravo")
    bravo = ListMultipartUploads(principal=world.bob, bucket="bravo")
    assert (await store.list_multipart_uploads(bravo)).uploads == []
