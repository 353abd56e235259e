"""The front's connections to the meta process and the blob workers.

A pool of channels per peer. A channel goes back to the pool only when the exchange on it
finished cleanly (a reply or a complete ErrorReply); anything else may have left frames in
flight, so the channel is closed instead of being reused out of sync.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio

from protocol.base import Message
from protocol.channel import Channel, connect_unix
from protocol.errors import RemoteError, Unavailable

M = TypeVar("M", bound=Message)
MAX_IDLE = 64


class ChannelPool:
    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[Channel] = []

    async def acquire(self) -> Channel:
        while self._idle:
            chan = self._idle.pop()
            if not chan.broken:
                return chan
        return await connect_unix(self.path, attempts=25)

    async def release(self, chan: Channel, reusable: bool) -> None:
        if reusable and not chan.broken and len(self._idle) < MAX_IDLE:
            self._idle.append(chan)
            return
        with anyio.CancelScope(shield=True):
            try:
                await chan.aclose()
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    @asynccontextmanager
    async def channel(self) -> AsyncIterator[Channel]:
        """A channel for a multi-frame exchange; reused only if the block exits normally."""
        chan = await self.acquire()
        ok = False
        try:
            yield chan
            ok = True
        finally:
            await self.release(chan, ok)

    async def send_first(self, msg: Message) -> Channel:
        """Send the opening message of an exchange on a pooled channel.

        A pooled channel whose peer restarted fails at once on send (EPIPE on a Unix socket),
        before the peer could have acted on it, so retrying on a fresh connection is safe."""
        chan = await self.acquire()
        try:
            await chan.send(msg)
        except Unavailable:
            await self.release(chan, False)
            chan = await connect_unix(self.path, attempts=25)
            try:
                await chan.send(msg)
            except BaseException:
                await self.release(chan, False)
                raise
        return chan

    async def request(self, msg: Message, expected: type[M]) -> M:
        chan = await self.send_first(msg)
        try:
            reply = await chan.receive_reply(expected)
        except RemoteError:
            # A complete ErrorReply leaves the channel in sync; a broken one is dropped.
            await self.release(chan, True)
            raise
        except BaseException:
            await self.release(chan, False)
            raise
        await self.release(chan, True)
        return reply

    async def probe(self) -> bool:
        try:
            chan = await connect_unix(self.path, attempts=1)
        except RemoteError:
            return False
        await self.release(chan, False)
        return True


class BlobPools:
    """One pool per blob worker; uploads are spread round-robin."""

    def __init__(self, paths: list[str]) -> None:
        self.pools = [ChannelPool(p) for p in paths]
        self._next = itertools.cycle(range(len(self.pools)))

    def pick(self) -> ChannelPool:
        return self.pools[next(self._next)]
