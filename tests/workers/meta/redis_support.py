"""Helpers of the Redis tests: the real Redis at 127.0.0.1:6379 (skip, or fail under CI=true,
when it does not answer), a random key prefix per test removed afterwards, links, a port
nobody listens on, and a TCP relay to Redis that a test can cut and restore (an outage of
one node's connection while Redis itself stays up)."""

from __future__ import annotations

import functools
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from protocol.lifecycle import RedisSettings
from workers.meta.redis_client import RedisLink

# The Redis of `make services`; the variables let a CI runner point elsewhere.
REDIS_HOST = os.environ.get("ALEXANDER_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("ALEXANDER_TEST_REDIS_PORT", "6379"))
REDIS_DB = int(os.environ.get("ALEXANDER_TEST_REDIS_DB", "0"))


@functools.cache
def _unreachable() -> str:
    """Why the test Redis does not answer ("" when it does); asked once per session."""
    try:
        with redis.Redis(
            host=REDIS_HOST,
            port=REDIS_PORT,
            db=REDIS_DB,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        ) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at {REDIS_HOST}:{REDIS_PORT} is unreachable ({exc})"
    return ""


def require_redis() -> RedisSettings:
    """Settings of the test Redis; skips (or fails under CI=true) when it is unreachable."""
    reason = _unreachable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it (start it with `make services`)")
        pytest.skip(reason)
    return RedisSettings(enabled=True, host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def flush_prefix(prefix: str) -> int:
    """Delete every key under `prefix` (and nothing else); the number deleted."""
    deleted = 0
    with redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB) as client:
        for key in client.scan_iter(match=f"{prefix}*", count=500):
            deleted += int(client.delete(key))
    return deleted


def new_prefix() -> str:
    return f"alexander-test-{secrets.token_hex(6)}:"


def sync_client() -> redis.Redis:
    """A plain synchronous client, to look at (and tamper with) what the code stored."""
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


@asynccontextmanager
async def open_link(settings: RedisSettings, prefix: str) -> AsyncIterator[RedisLink]:
    """A probed link (not serving its health loop: tests call probe() themselves)."""
    link = RedisLink(settings, prefix=prefix)
    try:
        await link.probe()
        yield link
    finally:
        await link.aclose()


def closed_port() -> int:
    """A local TCP port with no listener (bound, read back, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_settings() -> RedisSettings:
    return RedisSettings(enabled=True, host="127.0.0.1", port=closed_port())


class CuttableRelay:
    """Relays TCP connections to the test Redis until `cut()`: then every relayed
    connection is closed and new ones are closed as soon as accepted, until `restore()`."""

    def __init__(self) -> None:
        self.port = 0
        self.open = True
        self._streams: set[anyio.abc.ByteStream] = set()

    def settings(self, db: int = REDIS_DB) -> RedisSettings:
        return RedisSettings(enabled=True, host="127.0.0.1", port=self.port, db=db)

    async def cut(self) -> None:
        self.open = False
        for stream in list(self._streams):
            await anyio.aclose_forcefully(stream)
        self._streams.clear()

    def restore(self) -> None:
        self.open = True

    async def handle(self, client: anyio.abc.SocketStream) -> None:
        if not self.open:
            await anyio.aclose_forcefully(client)
            return
        upstream = await anyio.connect_tcp(REDIS_HOST, REDIS_PORT)
        self._streams.update((client, upstream))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pump, client, upstream, tg.cancel_scope)
                tg.start_soon(_pump, upstream, client, tg.cancel_scope)
        finally:
            self._streams.difference_update((client, upstream))
            await anyio.aclose_forcefully(client)
            await anyio.aclose_forcefully(upstream)


async def _pump(
    source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream, scope: anyio.CancelScope
) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        pass
    scope.cancel()


@asynccontextmanager
async def open_relay() -> AsyncIterator[CuttableRelay]:
    relay = CuttableRelay()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    relay.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, relay.handle)
        try:
            yield relay
        finally:
            tg.cancel_scope.cancel()
