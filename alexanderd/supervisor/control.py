"""The control socket: alexanderctl's door into the running daemon.

A Unix socket with mode 0600 in the runtime dir; peers are also checked by SO_PEERCRED so
that only the daemon's own user (or root) is served even if the mode is loosened.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from protocol.channel import Channel
from protocol.control import CtlReply, CtlRequest
from protocol.errors import ProtocolError, RemoteError
from protocol.logs import get_logger

Handler = Callable[[str, dict[str, str]], Awaitable[Any]]
log = get_logger("control")


class CtlError(RemoteError):
    """A control verb failed in a way the operator can fix (bad argument, unknown user...)."""

    code = "CtlError"


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


async def serve_control(
    path: str,
    handler: Handler,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    # A stale socket from a crashed run would make the bind fail.
    await anyio.Path(path).unlink(missing_ok=True)
    # Create the socket already private: no window in which another user could connect.
    old_umask = os.umask(0o177)
    try:
        listener = await anyio.create_unix_listener(path, backlog=64)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    async with listener:
        task_status.started()
        await listener.serve(lambda stream: _serve_client(stream, handler))


async def _serve_client(stream: anyio.abc.SocketStream, handler: Handler) -> None:
    chan = Channel(stream)
    async with stream:
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        uid = peer_uid(raw)
        if uid not in (0, os.getuid()):
            log.warning("control connection refused", peer_uid=uid)
            await chan.send_error(CtlError("permission denied: not the daemon's user"))
            return
        while True:
            try:
                msg = await chan.receive()
            except RemoteError:
                return
            if not isinstance(msg, CtlRequest):
                await chan.send_error(ProtocolError(f"unexpected {type(msg).__name__}"), msg.rid)
                return
            # An audit trail of administration (never the arguments: they may name secrets).
            log.info("control request", verb=msg.verb, peer_uid=uid)
            try:
                data = await handler(msg.verb, dict(msg.args))
            except RemoteError as exc:
                await chan.send_error(exc, msg.rid)
                continue
            except Exception as exc:
                log.exception("control verb failed", verb=msg.verb)
                await chan.send_error(CtlError(f"internal error: {exc}"), msg.rid)
                continue
            await chan.send(CtlReply(rid=msg.rid, data=data))
