"""Entry point of a front child: `python -m alexanderd.front.main` (started by the supervisor).

The front serves S3 with hypercorn on the listening sockets it inherited. Stop (or SIGTERM)
triggers hypercorn's graceful shutdown: no new connections, in-flight requests finish (up
to shutdown_timeout), then the process exits 0.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from typing import Any

import anyio
import anyio.abc

from alexanderd.front.app import S3App
from protocol.channel import Channel, channel_from_socket, read_message_blocking
from protocol.errors import RemoteError
from protocol.lifecycle import BootFailed, BootFront, Heartbeat, Ready, Stop
from protocol.logs import configure_logging, get_logger, reopen_logs

BOOT_FD_ENV = "ALEXANDERD_BOOT_FD"
EXIT_BOOT_FAILED = 3
RECEIVE_MAX = 1024 * 1024
log = get_logger("front")


def hypercorn_config(boot: BootFront) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{fd}" for fd in boot.listen_fds]
    config.graceful_timeout = boot.shutdown_timeout
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = None
    # Backup clients keep connections open between large transfers.
    config.keep_alive_timeout = 75
    config.h11_max_incomplete_size = 64 * 1024
    if boot.tls is not None:
        config.certfile = boot.tls.cert_file
        config.keyfile = boot.tls.key_file
    return config


async def _serve(boot: BootFront, chan: Channel) -> None:
    app = S3App(boot)
    config = hypercorn_config(boot)
    shutdown = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            _run_then_cancel, _hypercorn(boot.runtime, app, config, shutdown), tg.cancel_scope
        )
        with anyio.move_on_after(60):
            await app.started.wait()
        if not app.started.is_set():
            await chan.send(BootFailed(role="front", reason="hypercorn did not start in 60s"))
            raise SystemExit(EXIT_BOOT_FAILED)
        await chan.send(Ready(role="front", pid=os.getpid()))
        log.info("ready", pid=os.getpid(), fds=boot.listen_fds)
        tg.start_soon(_heartbeats, chan, boot.heartbeat_interval, app)
        tg.start_soon(_watch, chan, shutdown)
        tg.start_soon(_signals, shutdown)


def _hypercorn(runtime: str, app: S3App, config: Any, shutdown: anyio.Event) -> Any:
    """hypercorn's serve coroutine for the running backend (its ASGI types are stricter
    than the plain-dict protocol our app speaks, hence Any)."""
    serve: Any
    tcp_server: Any
    if runtime == "trio":
        from hypercorn.trio import serve, tcp_server
    else:
        from hypercorn.asyncio import serve, tcp_server
    # hypercorn reads at most 64 KiB per receive and makes an h11 event, an ASGI message and
    # (before batching) a frame to the blob worker of each: large bodies paid that Python path
    # sixteen times per MiB. Reads return what is buffered, so small requests are unchanged.
    tcp_server.MAX_RECV = RECEIVE_MAX
    return serve(app, config, shutdown_trigger=shutdown.wait)


async def _run_then_cancel(coro: Any, scope: anyio.CancelScope) -> None:
    await coro
    log.info("stopped serving")
    scope.cancel()


async def _heartbeats(chan: Channel, interval: float, app: S3App) -> None:
    seq = 0
    while True:
        seq += 1
        await chan.send(Heartbeat(seq=seq, in_flight=app.in_flight))
        await anyio.sleep(interval)


async def _watch(chan: Channel, shutdown: anyio.Event) -> None:
    try:
        while True:
            if isinstance(await chan.receive(), Stop):
                log.info("stop requested: draining")
                break
    except RemoteError:
        log.warning("supervisor channel closed: draining")
    shutdown.set()


async def _signals(shutdown: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGUSR1) as signals:
        async for signum in signals:
            if signum == signal.SIGUSR1:
                await anyio.to_thread.run_sync(reopen_logs)
                continue
            log.info("signal: draining", signal=signal.Signals(signum).name)
            shutdown.set()


async def _main(sock: socket.socket, boot: BootFront) -> None:
    chan = await channel_from_socket(sock)
    try:
        await _serve(boot, chan)
    except (OSError, ValueError) as exc:
        log.error("boot failed", error=str(exc))
        try:
            await chan.send(BootFailed(role="front", reason=f"{type(exc).__name__}: {exc}"))
        except RemoteError:
            pass
        raise SystemExit(EXIT_BOOT_FAILED) from None


def main() -> int:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the supervisor
    except (OSError, AttributeError):
        pass
    sock = socket.socket(fileno=int(os.environ[BOOT_FD_ENV]))
    boot = read_message_blocking(sock)
    if not isinstance(boot, BootFront):
        print(f"alexanderd front: expected BootFront, got {type(boot).__name__}", file=sys.stderr)
        return EXIT_BOOT_FAILED
    configure_logging("front", boot.log.level, boot.log.format, boot.log.file)
    anyio.run(_main, sock, boot, backend=boot.runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
