"""RedisLink against the real Redis: health, the server id, degraded failures without
network round trips, recovery with its hooks, the ping detail, and the alexander_redis_up
gauge in prometheus_client's multiprocess mode (in a child interpreter, whose metric files
nothing else in this process can disturb)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from protocol.lifecycle import GCSettings, RedisSettings
from protocol.meta import Ping, Pong
from tests.workers.meta.meta_support import open_engine
from tests.workers.meta.redis_support import (
    dead_settings,
    new_prefix,
    open_link,
    open_relay,
    sync_client,
)
from workers.meta.dispatch import MetaServices, dispatch
from workers.meta.redis_client import RedisLink, RedisUnavailable

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py is asyncio-only, as is the meta process with Redis


async def test_a_reachable_redis_is_ok_and_named(settings: RedisSettings, prefix: str) -> None:
    async with open_link(settings, prefix) as link:
        assert link.available
        assert link.detail == "ok"
        assert await link.execute("SET", link.key("x"), "1") in (True, b"OK")
        with sync_client() as client:
            assert client.get(f"{prefix}x") == b"1"
            run_id = client.info("server")["run_id"]
        assert link.server_id == run_id


async def test_an_unreachable_redis_degrades_without_waiting() -> None:
    async with open_link(dead_settings(), new_prefix()) as link:
        assert not link.available
        assert link.detail.startswith("unavailable: ")
        assert "ConnectionError" in link.detail
        with pytest.raises(RedisUnavailable):
            await link.execute("GET", link.key("x"))
        assert not await link.probe()


async def test_an_outage_marks_down_and_recovery_runs_hooks_first(
    settings: RedisSettings, prefix: str
) -> None:
    seen: list[bool] = []

    async with open_relay() as relay, open_link(relay.settings(settings.db), prefix) as link:

        async def hook() -> None:
            # Hooks may talk to Redis, and run before waiters are released.
            await link.execute("SET", link.key("recovered"), "yes")
            seen.append(True)

        link.on_recover(hook)
        assert link.available and link.outages == 0
        await relay.cut()
        with pytest.raises(RedisUnavailable):
            await link.execute("GET", link.key("x"))
        assert not link.available
        assert link.outages == 1
        assert not await link.probe()  # still cut
        relay.restore()
        async with anyio.create_task_group() as tg:
            tg.start_soon(link.wait_available)
            assert await link.probe()
        assert link.available and seen == [True]
        with sync_client() as client:
            assert client.get(f"{prefix}recovered") == b"yes"


async def test_serve_probes_and_reconnects_with_backoff(
    settings: RedisSettings, prefix: str
) -> None:
    async with (
        open_relay() as relay,
        open_link(relay.settings(settings.db), prefix) as link,
        anyio.create_task_group() as tg,
    ):
        await tg.start(link.serve)
        assert link.available
        await relay.cut()
        with pytest.raises(RedisUnavailable):
            await link.execute("GET", link.key("x"))
        relay.restore()
        with anyio.fail_after(30):
            await link.wait_available()
        assert await link.execute("PING")
        tg.cancel_scope.cancel()


async def test_ping_detail_reports_redis(
    settings: RedisSettings, prefix: str, tmp_path: Path
) -> None:
    async with open_engine("sqlite", tmp_path / "data") as store:
        pong = await dispatch(store, GCSettings(), Ping())
        assert isinstance(pong, Pong) and pong.detail["redis"] == "disabled"
        async with open_link(settings, prefix) as link:
            pong = await dispatch(store, GCSettings(), Ping(), services=MetaServices(redis=link))
            assert isinstance(pong, Pong) and pong.detail["redis"] == "ok"
            assert pong.database and pong.detail["driver"] == "sqlite"
        async with open_link(dead_settings(), prefix) as dead:
            pong = await dispatch(store, GCSettings(), Ping(), services=MetaServices(redis=dead))
            assert isinstance(pong, Pong)
            assert pong.detail["redis"].startswith("unavailable: ")
            assert pong.database


def test_a_link_needs_a_positive_timeout() -> None:
    async def build() -> None:
        RedisLink(RedisSettings(enabled=True), timeout=0)

    with pytest.raises(ValueError, match="timeout must be positive"):
        anyio.run(build)


_GAUGE_SCRIPT = """
import sys, anyio
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from protocol.lifecycle import RedisSettings
from workers.meta.redis_client import RedisLink

def value(path):
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "alexander_redis_up":
                return sample.value
    return None

async def main(path, live_host, live_port, dead_port):
    dead = RedisLink(RedisSettings(enabled=True, port=int(dead_port)), prefix="x:")
    await dead.probe()
    print("down", value(path))
    live = RedisLink(RedisSettings(enabled=True, host=live_host, port=int(live_port)), prefix="x:")
    await live.probe()
    print("up", value(path))
    await dead.aclose()
    await live.aclose()

anyio.run(main, *sys.argv[1:])
"""


def test_redis_up_gauge_in_multiprocess_mode(settings: RedisSettings, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    dead = dead_settings().port
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _GAUGE_SCRIPT,
            str(metrics_dir),
            settings.host,
            str(settings.port),
            str(dead),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    # One gauge per process ("liveall"): the last set wins, 0 while down, 1 once reachable.
    assert done.stdout.split() == ["down", "0.0", "up", "1.0"]
