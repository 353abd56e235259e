"""Range reads from a real store: ranges, missing and corrupt blobs, truncation mid-read."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from protocol.blob import ReadBlob
from protocol.errors import ProtocolError, RemoteError
from tests.workers.blob.support import MiB, body, stored_path, upload
from workers.blob.store import READ_PIECE, BlobStore

pytestmark = pytest.mark.anyio

SIZE = 5 * MiB + 12345


async def read_all(store: BlobStore, req: ReadBlob) -> tuple[int, list[bytes]]:
    async with store.open_read(req) as blob:
        got = []
        while (piece := await blob.next_piece()) is not None:
            got.append(piece)
        return blob.length, got


@pytest.fixture
async def sha(store: BlobStore) -> str:
    return (await upload(store, body(SIZE))).sha256


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),  # whole
        (0, SIZE),  # whole, explicit
        (0, 1),  # start
        (0, READ_PIECE + 1),  # start, two pieces
        (MiB + 3, 2 * MiB + 5),  # middle, spanning pieces
        (SIZE - 1, 1),  # last byte
        (SIZE - 70000, None),  # end
        (1234, 0),  # zero-length in the middle
        (SIZE, None),  # zero-length at the end
        (SIZE, 0),
    ],
)
async def test_ranges(store: BlobStore, sha: str, offset: int, length: int | None) -> None:
    data = body(SIZE)
    announced, got = await read_all(
        store, ReadBlob(sha256=sha, offset=offset, length=length, expected_size=SIZE)
    )
    want = data[offset:] if length is None else data[offset : offset + length]
    assert announced == len(want)
    assert b"".join(got) == want
    assert all(0 < len(piece) <= READ_PIECE for piece in got)


async def test_empty_blob(store: BlobStore) -> None:
    sha = (await upload(store, b"")).sha256
    assert sha == hashlib.sha256(b"").hexdigest()
    assert await read_all(store, ReadBlob(sha256=sha, expected_size=0)) == (0, [])


async def test_missing_blob(store: BlobStore) -> None:
    with pytest.raises(RemoteError) as info:
        await read_all(store, ReadBlob(sha256="ab" * 32))
    assert info.value.error_code == "BlobMissing"


async def test_size_differing_from_metadata_is_corrupt(store: BlobStore, sha: str) -> None:
    with pytest.raises(RemoteError) as info:
        await read_all(store, ReadBlob(sha256=sha, expected_size=SIZE + 1))
    assert info.value.error_code == "BlobCorrupt"
    assert info.value.details["size"] == str(SIZE)


@pytest.mark.parametrize(("offset", "length"), [(SIZE + 1, None), (0, SIZE + 1), (SIZE, 1)])
async def test_range_outside_the_blob(
    store: BlobStore, sha: str, offset: int, length: int | None
) -> None:
    with pytest.raises(RemoteError) as info:
        await read_all(store, ReadBlob(sha256=sha, offset=offset, length=length))
    assert info.value.error_code == "InvalidRange"


@pytest.mark.parametrize(
    "req",
    [
        ReadBlob(sha256="../../etc/passwd"),
        ReadBlob(sha256="AB" * 32),
        ReadBlob(sha256="ab" * 32, offset=-1),
        ReadBlob(sha256="ab" * 32, length=-5),
    ],
)
async def test_bad_requests_are_protocol_errors(store: BlobStore, req: ReadBlob) -> None:
    with pytest.raises(ProtocolError):
        await read_all(store, req)


async def test_truncated_during_the_read_fails(store: BlobStore, base: Path, sha: str) -> None:
    async with store.open_read(ReadBlob(sha256=sha, expected_size=SIZE)) as blob:
        first = await blob.next_piece()
        assert first is not None and len(first) == READ_PIECE
        os.truncate(stored_path(base, sha), 2 * READ_PIECE + 10)
        second = await blob.next_piece()
        assert second is not None and len(second) == READ_PIECE
        with pytest.raises(RemoteError) as info:
            await blob.next_piece()
    assert info.value.error_code == "BlobCorrupt"
    assert "truncated" in info.value.message


async def test_no_descriptor_leaks(store: BlobStore, sha: str) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for req in (
        ReadBlob(sha256=sha),
        ReadBlob(sha256=sha, length=0),
        ReadBlob(sha256=sha, expected_size=1),
        ReadBlob(sha256=sha, offset=SIZE + 1),
    ):
        try:
            await read_all(store, req)
        except RemoteError:
            pass
    async with store.open_read(ReadBlob(sha256=sha)) as blob:  # left early
        await blob.next_piece()
    assert len(os.listdir("/proc/self/fd")) == before


async def test_unreadable_blob_is_an_internal_error(store: BlobStore, base: Path) -> None:
    sha = "ef" * 32
    stored_path(base, sha).mkdir(parents=True)  # a directory where the blob belongs
    with pytest.raises(RemoteError) as info:
        await read_all(store, ReadBlob(sha256=sha))
    assert info.value.error_code == "InternalError"
    assert "Is a directory" in info.value.message
