"""Talking to the control socket: one request, one reply."""

from __future__ import annotations

from typing import Any

import anyio

from protocol.channel import connect_unix
from protocol.control import CtlReply, CtlRequest
from protocol.errors import RemoteError, Unavailable

DEFAULT_SOCKET = "/run/alexanderd/control.sock"


class Unreachable(Exception):
    pass


class Refused(Exception):
    """The daemon answered with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def call_async(socket_path: str, verb: str, args: dict[str, str] | None = None) -> Any:
    if not await anyio.Path(socket_path).exists():
        raise Unreachable(f"no control socket at {socket_path} (is alexanderd running?)")
    try:
        chan = await connect_unix(socket_path, attempts=3)
    except Unavailable as exc:
        raise Unreachable(str(exc)) from None
    except PermissionError:
        raise Refused("PermissionDenied", f"permission denied on {socket_path}") from None
    try:
        reply = await chan.request(CtlRequest(verb=verb, args=args or {}), CtlReply)
    except Unavailable as exc:
        raise Unreachable(f"the daemon closed the connection: {exc.message}") from None
    except RemoteError as exc:
        raise Refused(exc.error_code, exc.message) from None
    finally:
        await chan.aclose()
    return reply.data


def call(socket_path: str, verb: str, args: dict[str, str] | None = None) -> Any:
    return anyio.run(call_async, socket_path, verb, args)
