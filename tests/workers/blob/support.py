"""Helpers of the blob-worker tests: botocore's reference checksums, bodies, uploads driven
straight into a store or over a channel, and a look at what a data directory holds."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from botocore.httpchecksum import (
    CrtCrc32cChecksum,
    CrtCrc32Checksum,
    CrtCrc64NvmeChecksum,
    Sha1Checksum,
    Sha256Checksum,
)

from protocol.base import ErrorReply
from protocol.blob import CHECKSUM_ALGORITHMS, BlobData, BlobStored, EndBlob, PutBlob, ReadBlob
from protocol.channel import Channel
from protocol.codec import decode
from protocol.errors import ProtocolError, Unavailable
from protocol.frame import Kind
from workers.blob.store import BlobStore
from workers.blob.writer import Upload

MiB = 1024 * 1024
NODE = "testnode"

_BOTOCORE = {
    "crc32": CrtCrc32Checksum,
    "crc32c": CrtCrc32cChecksum,
    "crc64nvme": CrtCrc64NvmeChecksum,
    "sha1": Sha1Checksum,
    "sha256": Sha256Checksum,
}
assert set(_BOTOCORE) == set(CHECKSUM_ALGORITHMS)


def botocore_checksum(algorithm: str, data: bytes) -> str:
    """The x-amz-checksum-<algorithm> value botocore itself would send for `data`."""
    checksum = _BOTOCORE[algorithm]()
    checksum.update(data)
    value: str = checksum.b64digest()
    return value


def botocore_checksums(data: bytes) -> dict[str, str]:
    return {name: botocore_checksum(name, data) for name in CHECKSUM_ALGORITHMS}


def body(size: int, seed: int = 1) -> bytes:
    """Deterministic bytes whose period (a prime) is no power of two, so offset bugs show."""
    block = hashlib.shake_256(seed.to_bytes(4, "big")).digest(65521)
    return (block * (size // len(block) + 1))[:size]


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def chunk_source(chunks: list[bytes]) -> Callable[[], Awaitable[bytes | None]]:
    it = iter(chunks)

    async def next_chunk() -> bytes | None:
        await anyio.lowlevel.checkpoint()
        return next(it, None)

    return next_chunk


def new_store(base: Path, index: int = 0, fsync: bool = True) -> BlobStore:
    store = BlobStore(str(base), node=NODE, index=index, fsync=fsync)
    store.prepare()
    return store


async def upload(
    store: BlobStore,
    data: bytes,
    *,
    chunk: int = MiB,
    chunks: list[bytes] | None = None,
    trailer: dict[str, str] | None = None,
    **fields: object,
) -> BlobStored:
    put = PutBlob(rid="test-rid", **fields)  # type: ignore[arg-type]
    async with Upload(store, put) as up:
        await up.receive(chunk_source(chunks if chunks is not None else pieces(data, chunk)))
        return await up.commit(trailer or {})


def temp_files(base: Path) -> list[str]:
    return sorted(os.listdir(base / "tmp"))


def blob_files(base: Path) -> list[Path]:
    return sorted(p for p in (base / "blobs").rglob("*") if p.is_file())


def stored_path(base: Path, sha256: str) -> Path:
    return base / "blobs" / sha256[:2] / sha256[2:4] / sha256


async def client_put(
    chan: Channel,
    data: bytes,
    *,
    rid: str = "rid-put",
    trailer: dict[str, str] | None = None,
    chunk: int = MiB,
    **fields: object,
) -> BlobStored:
    await chan.send(PutBlob(rid=rid, **fields))  # type: ignore[arg-type]
    for piece in pieces(data, chunk):
        await chan.send_data(piece)
    await chan.send_end()
    await chan.send(EndBlob(rid=rid, trailer_checksums=trailer or {}))
    reply = await chan.receive_reply(BlobStored)
    assert reply.rid == rid
    return reply


async def client_read(
    chan: Channel, sha256: str, *, rid: str = "rid-read", **fields: object
) -> bytes:
    await chan.send(ReadBlob(rid=rid, sha256=sha256, **fields))  # type: ignore[arg-type]
    header = await chan.receive_reply(BlobData)
    assert header.rid == rid
    data = b"".join([piece async for piece in chan.iter_data()])
    assert len(data) == header.length
    return data


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for another task's side effect on disk (polling; no timing is asserted)."""
    with anyio.fail_after(30):
        while not predicate():  # noqa: ASYNC110  (the condition is on disk, not an Event)
            await anyio.sleep(0.005)
    assert predicate(), what


async def close_gracefully(chan: Channel) -> None:
    """Shut our side down and wait for the server to close its side.

    Cancelling the server while its end of a just-closed socket is readable trips an anyio
    race on asyncio (the reader callback sets a result on the cancelled future and the test
    runner reports the InvalidStateError); waiting for the server's EOF rules that out.
    """
    await chan.stream.send_eof()
    # protocol.channel reports an EOF between frames as "closed mid-frame" (ProtocolError),
    # so the server may answer our EOF with a ProtocolError reply before closing, and our
    # own channel may report the server's EOF the same way.
    for _ in range(2):
        try:
            kind, payload = await chan.receive_frame()
        except (Unavailable, ProtocolError) as exc:
            assert "closed the channel" in exc.message, exc.message
            break
        reply = decode(payload)
        assert kind is Kind.MSG and isinstance(reply, ErrorReply), reply
        assert reply.code == "ProtocolError" and "mid-frame" in reply.message, reply
    else:
        raise AssertionError("the server did not close the channel")
    await chan.aclose()


def open_sockets() -> int:
    """Sockets open in this process (the server runs in the test's own process)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed meanwhile (the listing's own descriptor, for one)
    return count


async def assert_closed_by_server(chan: Channel) -> None:
    """The server has closed the channel (EOF; see close_gracefully on how it is reported)."""
    with pytest.raises((Unavailable, ProtocolError)) as info:
        await chan.receive_frame()
    assert "closed the channel" in info.value.message, info.value.message
    await chan.aclose()
