"""Moving object bytes: bodies to the blob workers in DATA frames, reads from the store."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TypeVar

import anyio

from alexanderd.front.context import Context
from protocol.blob import BlobStored, EndBlob, PutBlob
from protocol.blobfile import BlobFile, io_error
from protocol.frame import DATA_CHUNK
from protocol.meta import BlobRef
from protocol.threads import ThreadPool

T = TypeVar("T")
# Threads for opening and reading blobs: one call per GET.
_READERS = ThreadPool(16, "blob-read")

# Bodies up to this size are read whole and sent to the worker in a single write.
SMALL_BODY = 256 * 1024
# Larger bodies go to the worker in DATA frames of about this size.
SEND_BATCH = 512 * 1024
# GETs read this much per thread hop (and hand it to the HTTP stack as one piece).
READ_PIECE = DATA_CHUNK


async def store_body(
    ctx: Context, header: PutBlob, chunks: AsyncIterator[bytes], trailers: dict[str, str]
) -> BlobStored:
    """Stream a body to a blob worker; `trailers` is filled by the body reader at its end."""
    pool = ctx.blobs.pick()
    if header.expected_size is not None and header.expected_size <= SMALL_BODY:
        # Read first (the client sends it in a moment anyway), then one write to the worker.
        body = b"".join([piece async for piece in chunks])
        closing = EndBlob(rid=header.rid, trailer_checksums=_checksum_trailers(trailers))
        async with pool.channel() as chan:
            await chan.send_small_exchange(header, body, closing)
            return await chan.receive_reply(BlobStored)
    async with pool.channel() as chan:
        await chan.send(header)
        # The HTTP stack hands the body over in pieces of 64 KiB or less; one frame per
        # piece woke the worker sixteen times per MiB. Gathered, it is woken once.
        gathered: list[bytes] = []
        size = 0
        async for piece in chunks:
            gathered.append(piece)
            size += len(piece)
            if size >= SEND_BATCH:
                await chan.send_data(b"".join(gathered))
                gathered, size = [], 0
        if gathered:
            await chan.send_data(b"".join(gathered))
        await chan.send_end()
        await chan.send(EndBlob(rid=header.rid, trailer_checksums=_checksum_trailers(trailers)))
        return await chan.receive_reply(BlobStored)


def _checksum_trailers(trailers: dict[str, str]) -> dict[str, str]:
    prefix = "x-amz-checksum-"
    return {k[len(prefix) :]: v for k, v in trailers.items() if k.startswith(prefix)}


class BlobReader:
    """An opened read of [start, end] (inclusive) across an object's blobs, straight from the
    store's files (protocol.blobfile) in threads: a round trip to a blob worker cost the front
    more CPU than the read, and woke another process for every GET.

    The first blob is opened (and its first piece read, in the same thread hop) before the
    response starts, so a missing or corrupt blob is a clean 500; a failure later can only
    cut the connection (the length was promised). A range within one piece is `whole` after
    open(), and needs no stream."""

    def __init__(self, ctx: Context, rid: str, blobs: list[BlobRef], start: int, end: int) -> None:
        self.base = ctx.boot.blob_base_path
        self.rid = rid
        self.segments: list[tuple[BlobRef, int, int]] = []
        offset = 0
        for ref in blobs:
            lo, hi = max(start, offset), min(end, offset + ref.size - 1)
            if lo <= hi:
                self.segments.append((ref, lo - offset, hi - lo + 1))
            offset += ref.size
        self._first: tuple[BlobFile, bytes | None] | None = None
        self.whole: bytes | None = None

    async def _open(self, ref: BlobRef, offset: int, length: int) -> tuple[BlobFile, bytes | None]:
        blob = BlobFile(
            self.base,
            ref.sha256,
            offset=offset,
            length=length,
            expected_size=ref.size,
            piece=READ_PIECE,
        )
        return blob, await _read_io("open a blob", blob.open_first)

    async def open(self) -> None:
        if not self.segments:
            return
        blob, piece = await self._open(*self.segments[0])
        if len(self.segments) == 1 and blob.done:
            self.whole = piece or b""
        else:
            self._first = blob, piece

    async def stream(self) -> AsyncGenerator[bytes, None]:
        if self.whole is not None:
            yield self.whole
            return
        for index, (ref, offset, length) in enumerate(self.segments):
            if index == 0 and self._first is not None:
                blob, piece = self._first
                self._first = None
            else:
                blob, piece = await self._open(ref, offset, length)
            try:
                while piece is not None:
                    yield piece
                    piece = None if blob.done else await _read_io("read a blob", blob.read_piece)
            finally:
                await _close(blob)

    async def close(self) -> None:
        if self._first is not None:
            blob, _ = self._first
            self._first = None
            await _close(blob)


async def _read_io(doing: str, fn: Callable[[], T]) -> T:
    try:
        return await _READERS.run(fn)
    except OSError as exc:
        raise io_error(exc, doing) from exc


async def _close(blob: BlobFile) -> None:
    if not blob.done:
        with anyio.CancelScope(shield=True):
            await _READERS.run(blob.close)
