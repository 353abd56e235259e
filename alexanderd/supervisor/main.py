"""The supervisor: starts the children in order, watches them, and turns signals into
drain, reload and log reopening. It never touches object bytes.

Startup, narrated in the log: listeners -> meta -> blob workers -> fronts -> control socket
-> metrics exporter -> READY. Shutdown is the reverse: fronts drain first, so that no
request is cut while the workers and the database are still there to finish it.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import sys
import time
from typing import Any

import anyio
import anyio.abc
import msgspec

from alexanderd.config import Config, ConfigError, load_config
from alexanderd.supervisor import sdnotify
from alexanderd.supervisor.boot import RuntimePaths, blob_boot, front_boot, meta_boot
from alexanderd.supervisor.children import Child, ChildBootFailed
from alexanderd.supervisor.control import CtlError, serve_control
from alexanderd.supervisor.exporter import serve_metrics
from alexanderd.supervisor.listeners import address_of
from alexanderd.supervisor.metaverbs import meta_verb
from protocol.logs import get_logger, reopen_logs

log = get_logger("supervisor")
VERSION = "0.1.0"


class Supervisor:
    def __init__(self, config_path: str, config: Config, listeners: list[socket.socket]) -> None:
        self.config_path = config_path
        self.config = config
        self.paths = RuntimePaths(config.server.runtime_dir)
        self.listeners = listeners
        self.meta: Child | None = None
        self.blobs: list[Child] = []
        self.fronts: list[Child] = []
        self.generation = 0
        self.started = time.monotonic()
        self.exit_code = 0
        self.metrics_address = ""
        self._shutdown = anyio.Event()
        self._reload_lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    # -- children ---------------------------------------------------------------

    def _make_children(self, config: Config) -> tuple[Child, list[Child], list[Child]]:
        py = sys.executable
        hb = config.server.heartbeat_timeout
        env = {"PROMETHEUS_MULTIPROC_DIR": self.paths.metrics_dir}
        meta = Child(
            "meta",
            "meta",
            [py, "-m", "workers.main", "meta"],
            functools.partial(meta_boot, config, self.paths),
            hb,
            env=env,
        )
        blobs = [
            Child(
                f"blob-{i}",
                "blob",
                [py, "-m", "workers.main", "blob"],
                functools.partial(blob_boot, config, self.paths, i),
                hb,
                env=env,
            )
            for i in range(config.server.blob_workers)
        ]
        fds = [s.fileno() for s in self.listeners]
        fronts = [
            Child(
                f"front-{i}",
                "front",
                [py, "-m", "alexanderd.front.main"],
                functools.partial(front_boot, config, self.paths, i, fds),
                hb,
                pass_fds=fds,
                env=env,
            )
            for i in range(config.server.fronts)
        ]
        return meta, blobs, fronts

    async def _run_child(
        self, child: Child, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        ready = False

        def started(value: None = None) -> None:
            nonlocal ready
            ready = True
            task_status.started()

        status = _Started(started)
        try:
            await child.run(task_status=status)
        except ChildBootFailed:
            if not ready:
                raise  # first boot: tg.start() raises it to the caller, which stops the daemon
            log.error("child cannot be restarted; stopping the daemon", child=child.name)
            self.exit_code = 1
            self._shutdown.set()

    async def _start(self, child: Child) -> None:
        assert self._tg is not None
        log.info("starting child", child=child.name)
        await self._tg.start(self._run_child, child)

    async def _start_many(self, children: list[Child]) -> None:
        """Start siblings in parallel (their boot is mostly imports); the first boot
        failure is raised once all have settled."""
        failures: list[ChildBootFailed] = []

        async def one(child: Child) -> None:
            try:
                await self._start(child)
            except ChildBootFailed as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for child in children:
                tg.start_soon(one, child)
        if failures:
            raise failures[0]

    async def _start_all(self) -> None:
        self.meta, self.blobs, self.fronts = self._make_children(self.config)
        await self._start(self.meta)
        await self._start_many(self.blobs)
        await self._start_many(self.fronts)

    async def _stop_all(self) -> None:
        deadline = self.config.server.shutdown_timeout
        # Fronts first and in parallel: they drain in-flight requests, which need the rest.
        async with anyio.create_task_group() as tg:
            for child in self.fronts:
                tg.start_soon(child.stop, deadline)
        async with anyio.create_task_group() as tg:
            for child in self.blobs:
                tg.start_soon(child.stop, deadline)
        if self.meta is not None:
            await self.meta.stop(deadline)

    def all_children(self) -> list[Child]:
        return [*([self.meta] if self.meta else []), *self.blobs, *self.fronts]

    # -- reload -----------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        async with self._reload_lock:
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                log.error("reload rejected; keeping the running config", problems=exc.problems)
                raise CtlError("config rejected: " + "; ".join(exc.problems)) from None
            old = self.config
            fixed = [
                ("server.host", old.server.host, new.server.host),
                ("server.port", old.server.port, new.server.port),
                ("server.runtime_dir", old.server.runtime_dir, new.server.runtime_dir),
            ]
            changed = [name for name, a, b in fixed if a != b]
            if changed:
                log.error("reload rejected: needs a restart", keys=changed)
                raise CtlError(f"changing {', '.join(changed)} needs a restart")
            sdnotify.reloading()
            log.info("reloading", config=self.config_path)
            self.config = new
            try:
                return await self._replace_children(new)
            except ChildBootFailed as exc:
                # The old children are gone and a new one cannot boot: stop rather than
                # serve half a daemon (systemd's Restart= or the operator takes it from here).
                log.error("reload failed: a new child did not boot", child=exc.name,
                          reason=exc.reason)  # fmt: skip
                self.exit_code = 1
                self._shutdown.set()
                raise CtlError(f"reload failed: {exc}") from None

    async def _replace_children(self, new: Config) -> dict[str, Any]:
        meta, blobs, fronts = self._make_children(new)
        # One meta owns the database at a time: stop the old one before the new opens it.
        if self.meta is not None:
            await self.meta.stop(new.server.shutdown_timeout)
        self.meta = meta
        await self._start(meta)
        old_blobs, self.blobs = self.blobs, blobs
        await self._start_many(blobs)
        for child in old_blobs:
            await child.stop(new.server.shutdown_timeout)
        # New fronts accept on the same sockets before the old ones drain: no refusal.
        old_fronts, self.fronts = self.fronts, fronts
        await self._start_many(fronts)
        async with anyio.create_task_group() as tg:
            for child in old_fronts:
                tg.start_soon(child.stop, new.server.shutdown_timeout)
        self.generation += 1
        sdnotify.ready("reloaded")
        log.info("reloaded", generation=self.generation)
        return {"reloaded": True, "generation": self.generation}

    # -- control verbs ----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "pid": os.getpid(),
            "uptime": round(time.monotonic() - self.started, 3),
            "generation": self.generation,
            "config": self.config_path,
            "listen": [address_of(s) for s in self.listeners],
            "metrics": self.metrics_address,
            "children": [c.describe() for c in self.all_children()],
        }

    async def handle_ctl(self, verb: str, args: dict[str, str]) -> Any:
        if verb == "status":
            return self.status()
        if verb == "reload":
            return await self.reload()
        return plain(await meta_verb(self.paths.meta, verb, args))

    # -- main loop --------------------------------------------------------------

    async def serve(self) -> int:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._handle_signals)
            try:
                await self._start_all()
            except ChildBootFailed as exc:
                log.error("daemon cannot start", child=exc.name, reason=exc.reason)
                print(f"alexanderd: {exc}", file=sys.stderr)
                self.exit_code = 1
                self._shutdown.set()
            if not self._shutdown.is_set():
                await tg.start(serve_control, self.paths.control, self.handle_ctl)
                mc = self.config.metrics
                if mc.enabled:
                    host, port = await tg.start(
                        serve_metrics, mc.host, mc.port, mc.path, self.paths.metrics_dir
                    )
                    self.metrics_address = f"{host}:{port}"
                tg.start_soon(self._watchdog)
                listen = ", ".join(address_of(s) for s in self.listeners)
                sdnotify.ready(f"serving S3 on {listen}")
                log.info("ready", listen=listen, metrics=self.metrics_address)
            await self._shutdown.wait()
            sdnotify.stopping()
            log.info("stopping")
            with anyio.CancelScope(shield=True):
                await self._stop_all()
            tg.cancel_scope.cancel()
        await anyio.Path(self.paths.control).unlink(missing_ok=True)
        log.info("stopped", exit_code=self.exit_code)
        return self.exit_code

    async def _handle_signals(self) -> None:
        sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
        with anyio.open_signal_receiver(*sigs) as received:
            async for signum in received:
                name = signal.Signals(signum).name
                if signum in (signal.SIGTERM, signal.SIGINT):
                    if self._shutdown.is_set() and signum == signal.SIGINT:
                        log.warning("second interrupt: killing children now")
                        for child in self.all_children():
                            child.signal(signal.SIGKILL)
                        continue
                    log.info("signal: draining and stopping", signal=name)
                    self._shutdown.set()
                elif signum == signal.SIGHUP:
                    assert self._tg is not None
                    self._tg.start_soon(self._reload_from_signal)
                elif signum == signal.SIGUSR1:
                    await anyio.to_thread.run_sync(reopen_logs)
                    for child in self.all_children():
                        child.signal(signal.SIGUSR1)

    async def _reload_from_signal(self) -> None:
        try:
            await self.reload()
        except CtlError as exc:
            log.error("reload failed", error=exc.message)

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        while True:
            sdnotify.watchdog()
            await anyio.sleep(interval / 2)


def plain(value: Any) -> Any:
    """A reply as JSON-able data with every field present: the wire form omits defaults,
    but scripts reading `alexanderctl --json` should find empty lists and zero counts."""
    if isinstance(value, msgspec.Struct):
        return {f: plain(getattr(value, f)) for f in value.__struct_fields__ if f != "rid"}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class _Started:
    """Adapts a callback to TaskStatus so the wrapper learns when the child first got Ready."""

    def __init__(self, callback: Any) -> None:
        self._callback = callback

    def started(self, value: None = None) -> None:
        self._callback(value)
