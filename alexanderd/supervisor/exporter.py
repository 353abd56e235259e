"""The Prometheus exporter: a tiny HTTP/1.1 server answering GET <path> with the metrics of every
process, summed from the multiprocess directory.

It speaks just enough HTTP for a scraper and nothing more: one request per connection
(Connection: close), no body read, a capped request head with a read deadline, so a slow or
garbage client costs one task for a few seconds and never the server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from protocol.logs import get_logger

log = get_logger(__name__)

READ_TIMEOUT: Final = 10.0  # seconds to receive the whole request head
WRITE_TIMEOUT: Final = 30.0  # seconds to send the response to a slow reader
MAX_HEAD: Final = 8192  # request line plus headers; scrapers send a few hundred bytes
LINGER_TIMEOUT: Final = 2.0  # seconds to wait for the client to close after the reply
LINGER_BYTES: Final = 1 << 20  # unread input discarded before closing anyway
MAX_CONNECTIONS: Final = 64  # beyond this, new connections get 503 at once
# Reading every process's files is cheap but not free: two scrapes at once is plenty.
_RENDER_LIMIT: Final = 2

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE: Final = re.compile(rb"(" + _TOKEN + rb") (\S+) HTTP/(\d)\.(\d)")
_HEADER_LINE: Final = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(.*?)[ \t]*")
_METHOD_PREFIX: Final = re.compile(rb"[A-Z]{0,16}")

_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value


def parse_head(head: bytes) -> Request:
    """Parse a request head (without the final blank line); raises BadRequest."""
    lines = head.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise BadRequest(400, "malformed request line")
    method, target, major, minor = match.groups()
    if major != b"1":
        raise BadRequest(505, "only HTTP/1.x is spoken here")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            raise BadRequest(400, "malformed header line")
        headers[header.group(1).decode("ascii").lower()] = header.group(2).decode("latin-1")
    # RFC 9112 section 3.2: an HTTP/1.1 request without Host must be rejected.
    if minor != b"0" and "host" not in headers:
        raise BadRequest(400, "missing Host header")
    return Request(method.decode("ascii"), target.decode("latin-1"), headers)


def _plausible_start(data: bytes) -> bool:
    """False when `data` cannot begin a request line (a TLS handshake, binary junk), so such
    clients are refused at once instead of holding the connection until the deadline."""
    first = data.split(b" ", 1)[0] if b" " in data else data
    return _METHOD_PREFIX.fullmatch(first) is not None


async def _read_head(stream: anyio.abc.ByteStream) -> bytes | None:
    """The request head, or None when the client left first. Raises BadRequest."""
    buffer = bytearray()
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buffer[:end])
        if len(buffer) > MAX_HEAD:
            raise BadRequest(431, f"request head over {MAX_HEAD} bytes")
        first_line_end = buffer.find(b"\r\n")
        if first_line_end >= 0:
            if _REQUEST_LINE.fullmatch(buffer[:first_line_end]) is None:
                raise BadRequest(400, "malformed request line")
        elif not _plausible_start(bytes(buffer)):
            raise BadRequest(400, "not an HTTP request")
        try:
            buffer += await stream.receive(4096)
        except anyio.EndOfStream:
            return None


def _response(status: int, headers: list[tuple[str, str]], body: bytes, head_only: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head_only else body)


def _error(status: int, reason: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    body = f"{status} {_REASONS[status]}: {reason}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])]
    return _response(status, headers, body, head_only=False)


class _Exporter:
    def __init__(self, path: str, multiproc_dir: str) -> None:
        self.path = path
        self.registry = CollectorRegistry()
        # Registers itself; prometheus_client leaves its constructor unannotated.
        MultiProcessCollector(self.registry, path=multiproc_dir)  # type: ignore[no-untyped-call]
        self.render_limiter = anyio.CapacityLimiter(_RENDER_LIMIT)
        self.connections = anyio.CapacityLimiter(MAX_CONNECTIONS)

    def _render(self, accept: str) -> tuple[bytes, str]:
        encoder: Callable[[CollectorRegistry], bytes]
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    async def respond(self, request: Request) -> bytes:
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            return _error(405, f"{request.method} not allowed", [("Allow", "GET, HEAD")])
        if request.target.split("?", 1)[0] != self.path:
            return _error(404, f"metrics are at {self.path}")
        accept = request.headers.get("accept", "")
        try:
            # The collector reads one mmap'd file per process: file I/O, off the event loop.
            body, content_type = await anyio.to_thread.run_sync(
                self._render, accept, limiter=self.render_limiter
            )
        except Exception as exc:
            log.exception("metrics exposition failed")
            return _error(500, f"cannot collect metrics: {exc}")
        return _response(200, [("Content-Type", content_type)], body, head_only)

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                self.connections.acquire_on_behalf_of_nowait(stream)
            except anyio.WouldBlock:
                await self._send(stream, _error(503, "too many connections"))
                return
            try:
                await self._serve_one(stream)
            finally:
                self.connections.release_on_behalf_of(stream)

    async def _serve_one(self, stream: anyio.abc.SocketStream) -> None:
        head: bytes | None = None
        try:
            # The deadline covers the client's part only, not the time we take to render.
            with anyio.move_on_after(READ_TIMEOUT) as deadline:
                head = await _read_head(stream)
            if deadline.cancelled_caught:
                raise BadRequest(408, f"no complete request within {READ_TIMEOUT:g}s")
            if head is None:
                return  # the client left before finishing its request
            request = parse_head(head)
        except BadRequest as exc:
            log.debug("bad metrics request", status=exc.status, reason=exc.reason)
            await self._send(stream, _error(exc.status, exc.reason))
            return
        except (anyio.BrokenResourceError, OSError):
            return  # connection reset by the client
        await self._send(stream, await self.respond(request))

    async def _send(self, stream: anyio.abc.SocketStream, reply: bytes) -> None:
        try:
            with anyio.move_on_after(WRITE_TIMEOUT):
                await stream.send(reply)
                # Half-close so the client sees EOF after the body even if it ignores the length.
                await stream.send_eof()
            # Closing with unread input makes the kernel send RST, which can destroy the reply
            # before the client reads it (a rejected oversized head, say): read until the client
            # closes, within bounds.
            with anyio.move_on_after(LINGER_TIMEOUT):
                drained = 0
                while drained < LINGER_BYTES:
                    drained += len(await stream.receive(65536))
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass


async def serve_metrics(
    host: str,
    port: int,
    path: str,
    multiproc_dir: str,
    *,
    task_status: anyio.abc.TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the metrics summed from `multiproc_dir` at http://host:port/path until cancelled.
    `port` 0 picks a free port; `task_status.started((host, bound_port))` once listening."""
    if not path.startswith("/"):
        raise ValueError(f"metrics path must start with '/': {path!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"metrics port out of range: {port}")
    if not await anyio.to_thread.run_sync(os.path.isdir, multiproc_dir):
        raise ValueError(f"metrics directory does not exist: {multiproc_dir!r}")
    exporter = _Exporter(path, multiproc_dir)
    listener = await anyio.create_tcp_listener(local_host=host or None, local_port=port)
    async with listener:
        bound_port: int = listener.extra(SocketAttribute.local_port)
        log.info("metrics exporter listening", host=host, port=bound_port, path=path)
        task_status.started((host, bound_port))
        await listener.serve(exporter.handle)
