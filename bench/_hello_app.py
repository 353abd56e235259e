"""The smallest ASGI app that answers S3-shaped requests: the HTTP stack's own ceiling.

Served by hypercorn exactly as alexanderd's front is (asyncio), it answers 200 with a 4 KiB
body to every request and reads no body. Its ops/s in the same run says how much of the
machine is left for alexanderd's own work, whatever the neighbours are doing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

_BODY = b"\0" * 4096
_HEADERS = [(b"content-length", b"4096"), (b"content-type", b"application/octet-stream")]
_EMPTY = [(b"content-length", b"0")]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    head = scope["method"] == "HEAD"
    headers = _EMPTY if head else _HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else _BODY})
