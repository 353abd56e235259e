"""The meta process's connection to Redis and its health: is Redis reachable right now, why
not, and which Redis instance answers.

Every command goes through `RedisLink.execute` / `RedisLink.run_script`. Sockets time out
after `timeout` (0.5 s) and redis-py's retries are off, so a dead Redis costs a request at most
one timeout, once: the first connectivity failure marks the link down and, while it is down,
commands fail at once with `RedisUnavailable` without touching the network. `serve()` probes
with PING: every second while up, with exponential backoff while down, and marks the link up
again when Redis answers (running the registered recovery hooks first, so that the cache
can renew its epoch before anyone reads through it).

`server_id` is the `run_id` of the Redis process the newest connection reached, read by a
connect hook on every new connection. redis-py's pool silently reconnects a pooled
connection whose server went away, so a restart (or a Sentinel failover) is not always seen
as an error: the cache compares this id with the one recorded in its epoch to notice it.

With PROMETHEUS_MULTIPROC_DIR set, the gauge `alexander_redis_up` (1 reachable, 0 not;
multiprocess_mode "liveall", one series per live meta process) follows `available`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc

from protocol.lifecycle import RedisSettings
from workers.meta import metrics

# redis-py is an optional extra (`alexanderd[redis]`): this module imports without it, and
# only building a RedisLink (redis.enabled) needs it.
try:
    from redis.asyncio import Redis
    from redis.asyncio.connection import Connection
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.commands.core import AsyncScript
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    _CONNECTIVITY = (RedisConnectionError, RedisTimeoutError, OSError)
    _MISSING = ""
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    _MISSING = str(exc)

log = logging.getLogger("alexanderd.meta.redis")

DEFAULT_PREFIX = "alexander:"
DEFAULT_TIMEOUT = 0.5
PROBE_INTERVAL = 1.0
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0

RecoveryHook = Callable[[], Awaitable[None]]


class RedisUnavailable(Exception):
    """Redis did not answer (or answered with an error): the caller degrades."""


def redis_status(link: RedisLink | None) -> str:
    """The `redis` entry of the ping detail: "ok", "unavailable: <why>" or "disabled"."""
    return "disabled" if link is None else link.detail


class RedisLink:
    """A redis-py asyncio client with health tracking (see the module docstring)."""

    def __init__(
        self,
        settings: RedisSettings,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if _MISSING:
            raise ValueError(
                "redis.enabled is true but the redis package is not installed"
                f" (install alexanderd[redis]): {_MISSING}"
            )
        if timeout <= 0:
            raise ValueError(f"redis timeout must be positive, got {timeout}")
        self.prefix = prefix
        self.address = f"{settings.host}:{settings.port}/{settings.db}"
        self._client = Redis(
            host=settings.host,
            port=settings.port,
            db=settings.db,
            password=settings.password or None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            redis_connect_func=self._on_connect,
        )
        self.available = False
        self._why = "not probed yet"
        self.server_id = ""
        self.outages = 0
        self._up = anyio.Event()
        self._down = anyio.Event()
        self._hooks: list[RecoveryHook] = []
        _gauge_set(0)

    @property
    def detail(self) -> str:
        # `_why` is cleared only once the recovery hooks succeeded.
        return "ok" if self.available and not self._why else f"unavailable: {self._why}"

    def key(self, name: str) -> str:
        return self.prefix + name

    def on_recover(self, hook: RecoveryHook) -> None:
        """Run `hook` each time Redis answers again: commands work for it, but the health
        (detail, gauge) and `wait_available` say "up" only once every hook succeeded."""
        self._hooks.append(hook)

    def register(self, lua: str) -> AsyncScript:
        return self._client.register_script(lua)

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """One command; RedisUnavailable when the link is down or the command fails."""
        return await self._guarded(
            lambda: self._client.execute_command(*args)  # type: ignore[no-untyped-call]
        )

    async def run_script(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | bytes | int]
    ) -> Any:
        """EVALSHA (loading the script on NOSCRIPT); errors as `execute`."""
        return await self._guarded(lambda: script(keys=list(keys), args=list(args)))

    async def _guarded(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """Run a command: RedisUnavailable when the link is down, or when it fails (which
        also marks the link down)."""
        if not self.available:
            raise RedisUnavailable(self._why)
        try:
            return await command()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise RedisUnavailable(_describe(exc)) from exc

    async def wait_available(self) -> None:
        while not self.available:
            await self._up.wait()

    async def probe(self) -> bool:
        """PING now; marks the link up (after the recovery hooks) or down. True if up."""
        try:
            await self._client.execute_command("PING")  # type: ignore[no-untyped-call]
        except (*_CONNECTIVITY, RedisError) as exc:
            self._mark_down(_describe(exc))
            return False
        if not self.available:
            # Up for the hooks' commands; `_up` is set (and waiters released) only after them.
            self.available = True
            try:
                for hook in self._hooks:
                    await hook()
            except RedisUnavailable as exc:
                self._mark_down(f"recovery failed: {exc}")
                return False
            except BaseException:
                self.available = False
                raise
            if not self.available:  # a hook's command failed and marked us down again
                return False
            self._why = ""
            self._up.set()
            self._down = anyio.Event()
            _gauge_set(1)
            log.info("redis at %s is reachable (server %s)", self.address, self.server_id)
        return True

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Probe once (Redis down at boot does not stop the meta process), then keep the
        health current until cancelled."""
        await self.probe()
        task_status.started()
        backoff = FIRST_BACKOFF
        while True:
            if self.available:
                backoff = FIRST_BACKOFF
                with anyio.move_on_after(PROBE_INTERVAL):
                    await self._down.wait()
                if self.available:
                    await self.probe()
                continue
            await anyio.sleep(backoff)
            if not await self.probe():
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- internals --------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        # Only connectivity says "Redis is gone"; an error reply (OOM, a script error) means it
        # answered, and the caller degrades for that one operation.
        if isinstance(exc, _CONNECTIVITY):
            self._mark_down(_describe(exc))

    def _mark_down(self, why: str) -> None:
        self._why = why
        if not self.available:
            return
        self.available = False
        self.outages += 1
        self._up = anyio.Event()
        self._down.set()
        _gauge_set(0)
        log.warning("redis at %s is unavailable: %s (serving without it)", self.address, why)

    async def _on_connect(self, conn: Connection) -> None:
        await conn.on_connect()
        await conn.send_command("INFO", "server")
        info = await conn.read_response()
        self.server_id = _run_id(info)


def _run_id(info: object) -> str:
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line.partition(":")[2].strip()
    raise RedisConnectionError("INFO server did not report a run_id")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_gauge: Any = None


def _gauge_set(value: int) -> None:
    global _gauge
    if not metrics.enabled():
        return
    if _gauge is None:
        from prometheus_client import Gauge

        # registry=None: the exporter reads the multiprocess files, not a registry.
        _gauge = Gauge(
            "alexander_redis_up",
            "Whether this node's meta process reaches Redis (1) or serves without it (0).",
            multiprocess_mode="liveall",
            registry=None,
        )
    _gauge.set(value)
