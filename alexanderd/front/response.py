"""The value every handler returns; `render` in app.py is the one place it becomes HTTP."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # A streamed body (object data): `length` is its exact size, sent as Content-Length.
    stream: AsyncGenerator[bytes, None] | None = None
    length: int | None = None
    # Releases what an unconsumed stream holds (HEAD, 304, or a client gone mid-body).
    closer: Callable[[], Awaitable[None]] | None = None

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


def xml_response(body: bytes, status: int = 200) -> Response:
    return Response(status=status, headers=[("Content-Type", "application/xml")], body=body)


def empty(status: int = 200) -> Response:
    return Response(status=status)
