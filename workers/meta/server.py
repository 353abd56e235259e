"""The meta process's service: open the store, listen on the Unix socket, answer requests.

Startup, in order: settings checked, store opened (data directory and database created,
migrations applied), Redis link opened and probed when `redis.enabled` (Redis down does not
stop the boot: the process serves from the database and says so in Ping), stale socket
replaced, listener bound (0600), `task_status.started()`, then the GC and scrub loops when
enabled. Teardown runs in reverse as the task group exits.

Each connection is served by its own task, one request at a time (the channel's rule):
a RemoteError is answered as ErrorReply, any other exception as InternalError (and logged),
and the connection keeps serving; a framing error or a closed peer ends that connection only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.abc
import anyio.to_thread

from protocol.channel import Channel, adopt
from protocol.errors import ProtocolError, RemoteError, Unavailable
from protocol.lifecycle import BootMeta, GCSettings, RedisSettings
from workers.meta import gc as gc_module
from workers.meta.credentials import parse_master_key
from workers.meta.dispatch import MetaServices, dispatch
from workers.meta.engines import open_store
from workers.meta.gc_lock import GCExclusion
from workers.meta.meta_cache import MetaCache
from workers.meta.redis_client import RedisLink
from workers.meta.scrub import serve_scrub
from workers.meta.store import MetaStore

log = logging.getLogger("alexanderd.meta")

BACKLOG = 1024
SOCKET_MODE = 0o600


async def serve_meta(
    boot: BootMeta, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    if boot.gc.enabled:
        gc_module.check_settings(boot.gc, boot.multipart_expiration)
    check_redis(boot.redis, boot.runtime)
    await anyio.to_thread.run_sync(partial(os.makedirs, boot.base_path, exist_ok=True))
    async with (
        open_store(boot.base_path, boot.database, boot.master_key) as store,
        open_redis_link(boot.redis) as link,
    ):
        cache = None
        if link is not None:
            cache = MetaCache(store, link, parse_master_key(boot.master_key))
        services = MetaServices(redis=link, cache=cache, gc_lock=GCExclusion(store, link))
        listener = await anyio.create_unix_listener(
            boot.socket_path, mode=SOCKET_MODE, backlog=BACKLOG
        )
        try:
            async with listener, anyio.create_task_group() as tg:
                if link is not None:
                    await tg.start(link.serve)
                serve = partial(
                    _serve_connection, store, boot.gc, boot.multipart_expiration, services
                )
                tg.start_soon(listener.serve, serve, tg)
                if boot.gc.enabled:
                    await tg.start(
                        partial(
                            gc_module.serve_gc,
                            multipart_expiration=boot.multipart_expiration,
                            exclusion=services.gc_lock,
                        ),
                        boot.gc,
                        store,
                    )
                if boot.scrub.enabled:
                    await tg.start(serve_scrub, boot.scrub, store)
                log.info(
                    "meta serving on %s (database %s, redis %s)",
                    boot.socket_path,
                    boot.database.driver,
                    "disabled" if link is None else link.detail,
                )
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_socket, boot.socket_path)


def check_redis(settings: RedisSettings, runtime: str) -> None:
    """redis-py is asyncio-only: Redis enabled under another runtime is a boot error."""
    if settings.enabled and runtime != "asyncio":
        raise ValueError(
            f"redis.enabled needs the asyncio runtime in the meta process (got {runtime!r})"
        )


@asynccontextmanager
async def open_redis_link(settings: RedisSettings) -> AsyncIterator[RedisLink | None]:
    """The Redis link when enabled (not yet probed: `serve` does that), else None."""
    if not settings.enabled:
        yield None
        return
    link = RedisLink(settings)
    try:
        yield link
    finally:
        with anyio.CancelScope(shield=True):
            await link.aclose()


def _remove_socket(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def _serve_connection(
    store: MetaStore,
    gc: GCSettings,
    multipart_expiration: float,
    services: MetaServices,
    stream: anyio.abc.SocketStream,
) -> None:
    chan = await adopt(stream)
    try:
        while True:
            try:
                msg = await chan.receive()
            except (ProtocolError, Unavailable):
                return  # garbage or a closed peer: this connection only
            rid = msg.rid
            try:
                reply = await dispatch(
                    store, gc, msg, multipart_expiration=multipart_expiration, services=services
                )
            except ProtocolError as exc:
                # A message this process does not serve: say so, then drop the peer, whose
                # idea of the conversation no longer matches ours.
                await _send_error(chan, exc, rid)
                return
            except RemoteError as exc:
                if not await _send_error(chan, exc, rid):
                    return
                continue
            except Exception as exc:
                log.exception("request %s (%s) failed", rid, type(msg).__name__)
                internal = RemoteError(f"internal error in the meta process: {type(exc).__name__}")
                if not await _send_error(chan, internal, rid):
                    return
                continue
            reply.rid = rid
            try:
                await chan.send(reply)
            except Unavailable:
                return
    finally:
        with anyio.CancelScope(shield=True):
            await chan.aclose()


async def _send_error(chan: Channel, exc: RemoteError, rid: str) -> bool:
    try:
        await chan.send_error(exc, rid)
    except Unavailable:
        return False
    return True
