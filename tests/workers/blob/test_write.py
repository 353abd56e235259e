"""Durable uploads into a real store: round trips, verification errors, dedup, cleanup."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
from pathlib import Path

import anyio
import pytest

from protocol.blob import CHECKSUM_ALGORITHMS, PutBlob
from protocol.errors import ProtocolError, RemoteError
from tests.workers.blob.support import (
    MiB,
    blob_files,
    body,
    botocore_checksum,
    botocore_checksums,
    new_store,
    pieces,
    stored_path,
    temp_files,
    upload,
)
from workers.blob.store import BlobStore, write_all
from workers.blob.writer import Upload

pytestmark = pytest.mark.anyio

SIZES = [0, 1, MiB - 1, MiB + 1, 5 * MiB]
# Sizes on either side of the writer's paths: kept in memory (small) or written by threads.
SMALL_AND_LARGE = [10, 3 * MiB]


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.mark.parametrize("size", SIZES)
async def test_round_trip_with_every_checksum(store: BlobStore, base: Path, size: int) -> None:
    data = body(size)
    expected = botocore_checksums(data)
    stored = await upload(
        store,
        data,
        expected_size=size,
        content_md5=b64md5(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
        checksum_algorithms=list(CHECKSUM_ALGORITHMS),
        expected_checksums=expected,
    )
    assert stored.rid == "test-rid"
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.size == size
    assert stored.checksums == expected
    assert stored_path(base, stored.sha256).read_bytes() == data
    assert blob_files(base) == [stored_path(base, stored.sha256)]
    assert temp_files(base) == []


@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
async def test_checksum_in_trailer_is_verified_and_returned(
    store: BlobStore, algorithm: str
) -> None:
    data = body(2 * MiB + 17)
    value = botocore_checksum(algorithm, data)
    stored = await upload(store, data, checksum_algorithms=[algorithm], trailer={algorithm: value})
    assert stored.checksums == {algorithm: value}


async def test_mixed_chunk_sizes_hash_in_order(store: BlobStore, base: Path) -> None:
    data = body(4 * MiB + 100)
    cuts = [0, 10, 4096, 4096 + MiB, 4096 + MiB + 5, 3 * MiB, 3 * MiB + 70000, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(cuts)]
    many_small = pieces(body(3 * MiB, seed=2), 4096)  # crosses the in-memory buffer limit
    stored = await upload(store, data, chunks=chunks, checksum_algorithms=["crc64nvme"])
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.checksums == {"crc64nvme": botocore_checksum("crc64nvme", data)}
    small = await upload(store, b"", chunks=[*many_small, b""], checksum_algorithms=["crc32c"])
    joined = b"".join(many_small)
    assert small.md5 == hashlib.md5(joined).hexdigest()
    assert stored_path(base, small.sha256).read_bytes() == joined
    assert temp_files(base) == []


async def test_without_fsync(base: Path) -> None:
    store = new_store(base, fsync=False)
    data = body(MiB + 1)
    stored = await upload(store, data)
    assert stored_path(base, stored.sha256).read_bytes() == data


async def test_identical_content_is_one_file(store: BlobStore, base: Path) -> None:
    data = body(MiB + 3)
    first = await upload(store, data)
    second = await upload(store, data, chunk=4096)
    assert first == second
    assert blob_files(base) == [stored_path(base, first.sha256)]
    assert temp_files(base) == []


async def test_same_content_again_heals_a_damaged_copy(store: BlobStore, base: Path) -> None:
    data = body(70000)
    stored = await upload(store, data)
    path = stored_path(base, stored.sha256)
    path.write_bytes(b"bitrot")
    await upload(store, data)
    assert path.read_bytes() == data


async def _assert_rejected(
    base: Path, store: BlobStore, data: bytes, code: str, **kw: object
) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        await upload(store, data, **kw)  # type: ignore[arg-type]
    assert info.value.error_code == code, info.value.message
    assert temp_files(base) == []
    assert blob_files(base) == []
    return info.value


@pytest.mark.parametrize("size", SMALL_AND_LARGE)
async def test_wrong_content_md5_is_bad_digest(store: BlobStore, base: Path, size: int) -> None:
    data = body(size)
    error = await _assert_rejected(base, store, data, "BadDigest", content_md5=b64md5(b"other"))
    assert error.message == "The Content-MD5 you specified did not match what we received."
    assert error.details == {
        "ExpectedDigest": hashlib.md5(b"other").hexdigest(),
        "CalculatedDigest": b64md5(data),
    }


@pytest.mark.parametrize("value", ["zzz", "AAAA", base64.b64encode(b"x" * 17).decode()])
async def test_malformed_content_md5_is_invalid_digest(
    store: BlobStore, base: Path, value: str
) -> None:
    error = await _assert_rejected(base, store, body(3 * MiB), "InvalidDigest", content_md5=value)
    assert error.message == "The Content-MD5 you specified is not valid."


@pytest.mark.parametrize("size", SMALL_AND_LARGE)
async def test_wrong_content_sha256_is_mismatch(store: BlobStore, base: Path, size: int) -> None:
    data = body(size)
    claimed = hashlib.sha256(b"other").hexdigest()
    error = await _assert_rejected(
        base, store, data, "XAmzContentSHA256Mismatch", content_sha256=claimed.upper()
    )
    assert error.details == {
        "ClientComputedContentSHA256": claimed,
        "S3ComputedContentSHA256": hashlib.sha256(data).hexdigest(),
    }


async def test_content_sha256_in_upper_case_hex_is_accepted(store: BlobStore) -> None:
    data = body(100)
    stored = await upload(store, data, content_sha256=hashlib.sha256(data).hexdigest().upper())
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


async def test_malformed_content_sha256_is_invalid_argument(store: BlobStore, base: Path) -> None:
    await _assert_rejected(base, store, body(10), "InvalidArgument", content_sha256="UNSIGNED")


@pytest.mark.parametrize("size", SMALL_AND_LARGE)
@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
@pytest.mark.parametrize("where", ["header", "trailer"])
async def test_wrong_checksum_is_bad_digest(
    store: BlobStore, base: Path, algorithm: str, where: str, size: int
) -> None:
    wrong = botocore_checksum(algorithm, b"something else")
    if where == "header":
        kw: dict[str, object] = {"expected_checksums": {algorithm: wrong}}
    else:
        kw = {"checksum_algorithms": [algorithm], "trailer": {algorithm: wrong}}
    error = await _assert_rejected(base, store, body(size), "BadDigest", **kw)
    name = {"crc32": "CRC32", "crc32c": "CRC32C", "crc64nvme": "CRC64NVME", "sha1": "SHA1"}
    assert error.message == (
        f"The {name.get(algorithm, 'SHA256')} you specified did not match the calculated checksum."
    )


async def test_malformed_checksum_header_is_invalid_request(store: BlobStore, base: Path) -> None:
    error = await _assert_rejected(
        base, store, body(10), "InvalidRequest", expected_checksums={"crc32c": "####"}
    )
    assert error.message == "Value for x-amz-checksum-crc32c header is invalid."


async def test_trailer_of_an_undeclared_algorithm_is_refused(store: BlobStore, base: Path) -> None:
    data = body(10)
    error = await _assert_rejected(
        base, store, data, "InvalidRequest", trailer={"sha1": botocore_checksum("sha1", data)}
    )
    assert "x-amz-checksum-sha1" in error.message


async def test_unknown_algorithm_is_refused(store: BlobStore, base: Path) -> None:
    await _assert_rejected(base, store, body(10), "InvalidRequest", checksum_algorithms=["md5"])


@pytest.mark.parametrize("size", SMALL_AND_LARGE)
async def test_short_body_is_incomplete(store: BlobStore, base: Path, size: int) -> None:
    error = await _assert_rejected(
        base, store, body(size), "IncompleteBody", expected_size=size + 1
    )
    assert error.details == {"ExpectedSize": str(size + 1), "ReceivedSize": str(size)}


@pytest.mark.parametrize("size", SMALL_AND_LARGE)
async def test_long_body_is_incomplete(store: BlobStore, base: Path, size: int) -> None:
    error = await _assert_rejected(
        base, store, body(size), "IncompleteBody", expected_size=size - 1
    )
    assert error.message.startswith("You did not provide the number of bytes")


async def test_long_body_fails_before_the_excess_is_consumed(store: BlobStore, base: Path) -> None:
    consumed = 0
    chunks = pieces(body(4 * MiB), MiB)

    async def next_chunk() -> bytes | None:
        nonlocal consumed
        await anyio.lowlevel.checkpoint()
        if consumed == len(chunks):
            return None
        consumed += 1
        return chunks[consumed - 1]

    async with Upload(store, PutBlob(expected_size=MiB + 1)) as up:
        with pytest.raises(RemoteError) as info:
            await up.receive(next_chunk)
    assert info.value.error_code == "IncompleteBody"
    assert consumed == 2  # stopped at the chunk that ran past the size, not at the end
    assert temp_files(base) == []


async def test_negative_expected_size_is_a_protocol_error(store: BlobStore) -> None:
    with pytest.raises(ProtocolError):
        Upload(store, PutBlob(expected_size=-1))


async def test_cancelled_upload_leaves_no_temp_file(store: BlobStore, base: Path) -> None:
    chunks = pieces(body(3 * MiB), MiB)
    calls = 0
    saw_temp = False

    async def next_chunk() -> bytes | None:
        nonlocal calls, saw_temp
        calls += 1
        if calls <= 2:
            return chunks[calls - 1]
        # The first chunk's thread work is done by now: its temp file exists.
        saw_temp = len(temp_files(base)) == 1
        scope.cancel()
        await anyio.sleep_forever()
        raise AssertionError("not reached")

    with anyio.CancelScope() as scope:
        async with Upload(store, PutBlob()) as up:
            await up.receive(next_chunk)
    assert scope.cancelled_caught
    assert saw_temp
    assert temp_files(base) == []
    assert blob_files(base) == []


async def test_tiny_frames_round_trip(store: BlobStore, base: Path) -> None:
    data = body(2 * MiB + 999)
    stored = await upload(store, data, chunk=1000, checksum_algorithms=["sha1"])
    assert stored_path(base, stored.sha256).read_bytes() == data
    assert stored.checksums == {"sha1": botocore_checksum("sha1", data)}


def test_write_all_takes_more_buffers_than_one_writev(tmp_path: Path) -> None:
    buffers = [bytes([i % 256]) * (i % 7 + 1) for i in range(5000)]
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(fd, [b"", *buffers, bytearray(b"end"), memoryview(b"!")])
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == b"".join(buffers) + b"end!"


async def test_a_pruned_shard_directory_is_made_again(store: BlobStore, base: Path) -> None:
    first = await upload(store, b"first")
    shard = stored_path(base, first.sha256).parent
    stored_path(base, first.sha256).unlink()
    shard.rmdir()
    shard.parent.rmdir()  # as a cleanup of empty shards elsewhere might
    second = await upload(store, b"first")
    assert stored_path(base, second.sha256).read_bytes() == b"first"
