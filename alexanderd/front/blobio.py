"""Moving object bytes between the client and the blob workers, in DATA frames."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from alexanderd.front.clients import ChannelPool
from alexanderd.front.context import Context
from protocol.blob import BlobData, BlobStored, EndBlob, PutBlob, ReadBlob
from protocol.channel import Channel
from protocol.errors import ProtocolError
from protocol.meta import BlobRef

# Bodies up to this size are read whole and sent to the worker in a single write.
SMALL_BODY = 256 * 1024


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
        async for piece in chunks:
            await chan.send_data(piece)
        await chan.send_end()
        await chan.send(EndBlob(rid=header.rid, trailer_checksums=_checksum_trailers(trailers)))
        return await chan.receive_reply(BlobStored)


def _checksum_trailers(trailers: dict[str, str]) -> dict[str, str]:
    prefix = "x-amz-checksum-"
    return {k[len(prefix) :]: v for k, v in trailers.items() if k.startswith(prefix)}


class BlobReader:
    """An opened read of [start, end] (inclusive) across an object's blobs.

    The first blob is opened before the response starts, so a missing or corrupt blob is a
    clean 500; a failure later can only cut the connection (the length was promised)."""

    def __init__(self, ctx: Context, rid: str, blobs: list[BlobRef], start: int, end: int) -> None:
        self.ctx = ctx
        self.rid = rid
        self.segments: list[tuple[BlobRef, int, int]] = []
        offset = 0
        for ref in blobs:
            lo, hi = max(start, offset), min(end, offset + ref.size - 1)
            if lo <= hi:
                self.segments.append((ref, lo - offset, hi - lo + 1))
            offset += ref.size
        self._first: tuple[ChannelPool, Channel] | None = None

    async def _open(self, ref: BlobRef, offset: int, length: int) -> tuple[ChannelPool, Channel]:
        pool = self.ctx.blobs.pick()
        msg = ReadBlob(
            rid=self.rid, sha256=ref.sha256, offset=offset, length=length, expected_size=ref.size
        )
        chan = await pool.send_first(msg)
        try:
            data = await chan.receive_reply(BlobData)
        except BaseException:
            await pool.release(chan, False)
            raise
        if data.length != length:
            await pool.release(chan, False)
            raise ProtocolError(f"blob worker offered {data.length} bytes, wanted {length}")
        return pool, chan

    async def open(self) -> None:
        if self.segments:
            self._first = await self._open(*self.segments[0])

    async def stream(self) -> AsyncGenerator[bytes, None]:
        for index, (ref, offset, length) in enumerate(self.segments):
            if index == 0 and self._first is not None:
                pool, chan = self._first
                self._first = None
            else:
                pool, chan = await self._open(ref, offset, length)
            done = False
            try:
                received = 0
                async for piece in chan.iter_data():
                    received += len(piece)
                    yield piece
                if received != length:
                    raise ProtocolError(f"blob stream ended after {received} of {length} bytes")
                done = True
            finally:
                await pool.release(chan, done)

    async def close(self) -> None:
        if self._first is not None:
            pool, chan = self._first
            self._first = None
            await pool.release(chan, False)
