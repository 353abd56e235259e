"""A minimal HTTP/1.1 keep-alive client for the load generator, on anyio byte streams.

General-purpose clients (botocore, urllib3) spend more CPU per request than a small S3 server
does, so they would measure themselves. This one does only what the benchmark needs: one
request at a time per connection, Content-Length or chunked response bodies, reconnect when
the server says `Connection: close`, and a byte-counting sink for large bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import anyio.abc

# Bodies up to this size go out in the same send as the head (one syscall per request).
_COALESCE_LIMIT = 64 * 1024
_SEND_SLICE = 1024 * 1024
_RECEIVE_MAX = 1024 * 1024
_MAX_HEAD = 64 * 1024


class HTTPError(ConnectionError):
    """The server broke HTTP/1.1 framing or closed the connection mid-response."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[bytes, bytes]  # lower-cased names
    body: bytes  # empty when the body was sunk
    body_length: int


class Connection:
    """One keep-alive TCP connection to host:port; reconnects lazily after a close."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._stream: anyio.abc.SocketStream | None = None
        self._buffer = bytearray()

    async def aclose(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.aclose()
        self._buffer.clear()

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | memoryview = b"",
        sink: bool = False,
    ) -> Response:
        """Send one request and read its whole response; `sink` counts body bytes only."""
        if self._stream is None:
            self._stream = await anyio.connect_tcp(self.host, self.port)
            self._buffer.clear()
        stream = self._stream
        lines = [f"{method} {target} HTTP/1.1"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if body or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if len(body) <= _COALESCE_LIMIT:
                await stream.send(head + bytes(body))
            else:
                await stream.send(head)
                view = memoryview(body)
                for start in range(0, len(view), _SEND_SLICE):
                    # anyio wants bytes; copying 1 MiB costs ~0.1 ms, far below its send time.
                    await stream.send(bytes(view[start : start + _SEND_SLICE]))
            response = await self._read_response(stream, method == "HEAD", sink)
        except BaseException:
            # A half-read response leaves the connection unusable; start clean next time.
            await self.aclose()
            raise
        if response.headers.get(b"connection", b"").lower() == b"close":
            await self.aclose()
        return response

    async def _receive(self, stream: anyio.abc.SocketStream) -> None:
        try:
            self._buffer += await stream.receive(_RECEIVE_MAX)
        except anyio.EndOfStream:
            raise HTTPError("server closed the connection mid-response") from None

    async def _read_response(
        self, stream: anyio.abc.SocketStream, head_only: bool, sink: bool
    ) -> Response:
        buf = self._buffer
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > _MAX_HEAD:
                raise HTTPError("response head larger than 64 KiB")
            await self._receive(stream)
        head = bytes(buf[:end]).split(b"\r\n")
        del buf[: end + 4]
        parts = head[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HTTPError(f"bad status line {head[0][:80]!r}")
        status = int(parts[1])
        headers: dict[bytes, bytes] = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"", 0)
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body, length = await self._read_chunked(stream, sink)
        elif b"content-length" in headers:
            body, length = await self._read_exact(stream, int(headers[b"content-length"]), sink)
        else:
            # No framing: the body runs to the end of the connection (HTTP/1.0 style).
            body, length = await self._read_to_close(stream, sink)
        return Response(status, headers, body, length)

    async def _read_exact(
        self, stream: anyio.abc.SocketStream, size: int, sink: bool
    ) -> tuple[bytes, int]:
        buf = self._buffer
        if not sink:
            while len(buf) < size:
                await self._receive(stream)
            body = bytes(buf[:size])
            del buf[:size]
            return body, size
        remaining = size
        while True:
            take = min(remaining, len(buf))
            del buf[:take]
            remaining -= take
            if remaining == 0:
                return b"", size
            await self._receive(stream)

    async def _read_chunked(self, stream: anyio.abc.SocketStream, sink: bool) -> tuple[bytes, int]:
        parts: list[bytes] = []
        total = 0
        buf = self._buffer
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                await self._receive(stream)
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
            del buf[: eol + 2]
            if size == 0:
                # Skip trailers up to the blank line that ends the message.
                while (eol := buf.find(b"\r\n")) != 0:
                    if eol > 0:
                        del buf[: eol + 2]
                    else:
                        await self._receive(stream)
                del buf[:2]
                return b"".join(parts), total
            chunk, _ = await self._read_exact(stream, size, sink)
            parts.append(chunk)
            total += size
            while len(buf) < 2:
                await self._receive(stream)
            del buf[:2]

    async def _read_to_close(self, stream: anyio.abc.SocketStream, sink: bool) -> tuple[bytes, int]:
        parts: list[bytes] = []
        total = len(self._buffer)
        if not sink:
            parts.append(bytes(self._buffer))
        self._buffer.clear()
        while True:
            try:
                data = await stream.receive(_RECEIVE_MAX)
            except anyio.EndOfStream:
                break
            total += len(data)
            if not sink:
                parts.append(data)
        await self.aclose()
        return b"".join(parts), total
