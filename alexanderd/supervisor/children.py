"""One supervised child process: spawn, boot, readiness, heartbeats, restart with backoff, stop.

Each child runs as a task `Child.run` in the supervisor's task group; `task_status.started()`
fires at the first Ready, so the supervisor can start meta, then blob workers, then fronts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc

from alexanderd import metrics
from alexanderd.supervisor.states import State, backoff_delay, check_transition
from protocol.base import Message
from protocol.channel import Channel, channel_from_socket
from protocol.errors import RemoteError
from protocol.lifecycle import BootFailed, Heartbeat, Ready, Stop
from protocol.logs import get_logger

BOOT_FD_ENV = "ALEXANDERD_BOOT_FD"
BOOT_TIMEOUT = 60.0
# A child that ran this long before crashing is healthy enough to reset its failure count.
STABLE_AFTER = 10.0
MAX_QUICK_FAILURES = 8

log = get_logger("supervisor")


class ChildBootFailed(Exception):
    """A child failed its first boot (or kept failing): the daemon must stop, not loop."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} failed to boot: {reason}")
        self.name = name
        self.reason = reason


@dataclass
class Child:
    name: str  # "meta", "blob-0", "front-0"
    role: str  # "meta", "blob", "front"
    argv: list[str]
    make_boot: Callable[[], Message]
    heartbeat_timeout: float
    pass_fds: Sequence[int] = ()
    env: dict[str, str] = field(default_factory=dict)
    state: State = State.STARTING
    pid: int | None = None
    restarts: int = 0
    started_at: float = 0.0
    last_exit: int | None = None
    _proc: anyio.abc.Process | None = None
    _chan: Channel | None = None
    _stopping: bool = False
    _launched: bool = False
    _exited: anyio.Event = field(default_factory=anyio.Event)

    def _set(self, new: State) -> None:
        if new is not self.state:
            check_transition(self.state, new)
            log.info("child state", child=self.name, old=self.state.value, new=new.value)
            self.state = new
        metrics.CHILD_UP.labels(role=self.role, child=self.name).set(
            1 if new is State.RUNNING else 0
        )

    def describe(self) -> dict[str, object]:
        uptime = time.monotonic() - self.started_at if self.state is State.RUNNING else 0.0
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state.value,
            "pid": self.pid,
            "restarts": self.restarts,
            "uptime": round(uptime, 3),
            "last_exit": self.last_exit,
        }

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        first = True
        failures = 0
        self._launched = True
        try:
            while not self._stopping:
                if self.state is not State.STARTING:
                    self._set(State.STARTING)
                proc, chan = await self._spawn()
                problem = await self._await_ready(proc, chan)
                if problem is not None:
                    await self._reap(proc, kill=True)
                    if first or self._stopping:
                        if not self._stopping:
                            self._set(State.FATAL)
                            raise ChildBootFailed(self.name, problem)
                        break
                    failures += 1
                    if failures > MAX_QUICK_FAILURES:
                        self._set(State.FATAL)
                        raise ChildBootFailed(self.name, f"{failures} restarts failed: {problem}")
                    await self._backoff(failures, problem)
                    continue
                self.started_at = time.monotonic()
                self._set(State.RUNNING)
                if first:
                    first = False
                    task_status.started()
                reason = await self._monitor(proc, chan)
                if self._stopping:
                    break
                if time.monotonic() - self.started_at > STABLE_AFTER:
                    failures = 0
                failures += 1
                self.restarts += 1
                metrics.CHILD_RESTARTS.labels(role=self.role).inc()
                await self._backoff(failures, reason)
        finally:
            if self.state not in (State.FATAL, State.EXITED):
                if self.state is not State.STOPPING:
                    self._set(State.STOPPING)
                self._set(State.EXITED)
            self._exited.set()

    async def _backoff(self, failures: int, reason: str) -> None:
        delay = backoff_delay(failures)
        self._set(State.BACKOFF)
        log.warning("child exited; restarting", child=self.name, reason=reason, delay=delay)
        await anyio.sleep(delay)

    async def _spawn(self) -> tuple[anyio.abc.Process, Channel]:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, **self.env, BOOT_FD_ENV: str(child.fileno())}
        try:
            proc = await anyio.open_process(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=None,
                stderr=None,
                pass_fds=[child.fileno(), *self.pass_fds],
                env=env,
                # A terminal's Ctrl-C must reach only the supervisor, which orders the stop.
                start_new_session=True,
            )
        finally:
            child.close()
        self._proc = proc
        self.pid = proc.pid
        chan = await channel_from_socket(parent)
        self._chan = chan
        await chan.send(self.make_boot())
        return proc, chan

    async def _await_ready(self, proc: anyio.abc.Process, chan: Channel) -> str | None:
        """None when the child said Ready; otherwise why it did not."""
        with anyio.move_on_after(BOOT_TIMEOUT):
            try:
                msg = await chan.receive()
            except RemoteError:
                code = await proc.wait()
                return f"exited with status {code} before it was ready"
            if isinstance(msg, Ready):
                return None
            if isinstance(msg, BootFailed):
                return msg.reason
            return f"sent {type(msg).__name__} instead of Ready"
        return f"not ready after {BOOT_TIMEOUT:.0f}s"

    async def _monitor(self, proc: anyio.abc.Process, chan: Channel) -> str:
        """Return when the child is gone (it exited, or missed its heartbeat and was killed)."""
        while True:
            with anyio.move_on_after(self.heartbeat_timeout) as scope:
                try:
                    msg = await chan.receive()
                except RemoteError:
                    break
                if not isinstance(msg, Heartbeat):
                    log.warning("unexpected message", child=self.name, type=type(msg).__name__)
            if scope.cancelled_caught and not self._stopping:
                log.error("missed heartbeat; killing", child=self.name, pid=proc.pid)
                await self._reap(proc, kill=True)
                return "missed its heartbeat deadline"
        code = await proc.wait()
        self.last_exit = code
        metrics.child_exited(proc.pid)
        return f"exited with status {code}"

    async def _reap(self, proc: anyio.abc.Process, kill: bool) -> None:
        if kill and proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        self.last_exit = await proc.wait()
        metrics.child_exited(proc.pid)
        if self._chan is not None:
            await self._chan.aclose()

    def signal(self, signum: signal.Signals) -> None:
        if self._proc is not None and self._proc.returncode is None:
            try:
                self._proc.send_signal(signum)
            except ProcessLookupError:
                pass

    async def stop(self, deadline: float) -> None:
        """Drain and stop: Stop message, wait up to `deadline`, then SIGKILL."""
        self._stopping = True
        if not self._launched:
            return  # never started (the daemon stopped before reaching this child)
        proc, chan = self._proc, self._chan
        if self.state in (State.RUNNING, State.STARTING, State.BACKOFF):
            self._set(State.STOPPING)
        if proc is not None and proc.returncode is None:
            if chan is not None:
                try:
                    await chan.send(Stop(deadline=deadline))
                except RemoteError:
                    self.signal(signal.SIGTERM)
            with anyio.move_on_after(deadline + 1.0):
                await proc.wait()
            if proc.returncode is None:
                log.warning("child did not stop in time; killing", child=self.name)
                proc.kill()
        await self._exited.wait()
