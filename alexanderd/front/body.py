"""A request body as decoded payload pieces, whatever its framing.

Plain bodies pass through; aws-chunked bodies (signed or not, with or without trailers)
go through the one ChunkedDecoder, which verifies every chunk and trailer signature.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from alexanderd.front.auth import auth_failure
from alexanderd.front.chunked import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    ChunkedDecoder,
)
from alexanderd.front.errors import s3_error
from alexanderd.front.request import Request
from alexanderd.front.sigv4 import AuthError, SigningContext

STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)


class ClientGone(Exception):
    """The client disconnected before sending its whole body."""


class Body:
    def __init__(
        self,
        req: Request,
        mode: str,
        ctx: SigningContext | None,
        decoded_length: int | None,
        trailers: list[str],
    ) -> None:
        self.req = req
        self.trailers: dict[str, str] = {}
        self._decoder: ChunkedDecoder | None = None
        if mode in STREAMING_MODES:
            if mode != STREAMING_UNSIGNED_TRAILER and ctx is None:
                raise s3_error("AccessDenied", "A signed streaming payload needs a signed request")
            self._decoder = ChunkedDecoder(mode, decoded_length, ctx, trailers)

    async def _raw(self) -> AsyncIterator[bytes]:
        receive = self.req.receive
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            data: bytes = message.get("body", b"")
            if data:
                self.req.bytes_in += len(data)
                yield data
            if not message.get("more_body", False):
                return

    async def chunks(self) -> AsyncIterator[bytes]:
        decoder = self._decoder
        try:
            async for data in self._raw():
                if decoder is None:
                    yield data
                    continue
                for piece in decoder.feed(data):
                    yield piece
            if decoder is not None:
                # In place: the uploader holds this dict and reads it after the last chunk.
                self.trailers.update(decoder.finish())
        except AuthError as exc:
            raise auth_failure(exc) from None

    async def read_all(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                raise s3_error("MaxMessageLengthExceeded", "Your request was too big.")
            parts.append(piece)
        return b"".join(parts)
