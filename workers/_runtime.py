"""The skeleton every worker child runs: boot message, event loop, readiness, heartbeats, stop.

supervisor                         child
    |  --- Boot* (socketpair) --->   |  read before the loop starts (it names the backend)
    |                                |  serve(boot) -> task_status.started()
    |  <-------- Ready ------------  |
    |  <------ Heartbeat ... ------  |  every heartbeat_interval
    |  --------- Stop ----------->   |  or EOF: the supervisor is gone, so we go too
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

from protocol.channel import Channel, channel_from_socket, read_message_blocking
from protocol.errors import RemoteError
from protocol.lifecycle import BootFailed, Heartbeat, LogSettings, Ready, Stop
from protocol.logs import configure_logging, get_logger, reopen_logs

BOOT_FD_ENV = "ALEXANDERD_BOOT_FD"
# Exit status of a child that could not boot: the supervisor stops the daemon instead of
# restart-looping on it (gunicorn's "worker failed to boot" rule).
EXIT_BOOT_FAILED = 3

Serve = Callable[..., Coroutine[Any, Any, None]]
log = get_logger("runtime")


class BootFailure(Exception):
    pass


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM us when the supervisor dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the EOF on the boot channel still stops us


def boot_channel() -> tuple[socket.socket, Any]:
    fd = int(os.environ[BOOT_FD_ENV])
    sock = socket.socket(fileno=fd)
    return sock, read_message_blocking(sock)


def run_child(role: str, sock: socket.socket, boot: Any, serve: Serve, use_uvloop: bool) -> int:
    log_settings: LogSettings = boot.log
    configure_logging(role, log_settings.level, log_settings.format, log_settings.file)
    backend_options = {"use_uvloop": use_uvloop} if boot.runtime == "asyncio" else {}
    try:
        anyio.run(
            _main, role, sock, boot, serve, backend=boot.runtime, backend_options=backend_options
        )
    except BootFailure:
        return EXIT_BOOT_FAILED
    except KeyboardInterrupt:
        return 0
    return 0


async def _main(role: str, sock: socket.socket, boot: Any, serve: Serve) -> None:
    chan = await channel_from_socket(sock)
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(serve, boot)
        except Exception as exc:
            log.error("boot failed", error=str(exc), exc_info=not isinstance(exc, RemoteError))
            try:
                await chan.send(BootFailed(role=role, reason=f"{type(exc).__name__}: {exc}"))
            except RemoteError:
                pass
            raise BootFailure(str(exc)) from exc
        await chan.send(Ready(role=role, pid=os.getpid()))
        log.info("ready", pid=os.getpid())
        tg.start_soon(_send_heartbeats, chan, boot.heartbeat_interval)
        tg.start_soon(_watch_supervisor, chan, tg.cancel_scope)
        tg.start_soon(_handle_signals, tg.cancel_scope)
    log.info("stopped")


async def _send_heartbeats(chan: Channel, interval: float) -> None:
    seq = 0
    while True:
        seq += 1
        await chan.send(Heartbeat(seq=seq))
        await anyio.sleep(interval)


async def _watch_supervisor(chan: Channel, scope: anyio.CancelScope) -> None:
    try:
        while True:
            msg = await chan.receive()
            if isinstance(msg, Stop):
                log.info("stop requested")
                break
    except RemoteError:
        log.warning("supervisor channel closed; exiting")
    scope.cancel()


async def _handle_signals(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGUSR1, signal.SIGINT) as signals:
        async for signum in signals:
            if signum == signal.SIGUSR1:
                await anyio.to_thread.run_sync(reopen_logs)
                continue
            log.info("signal", signal=signal.Signals(signum).name)
            scope.cancel()
            return
