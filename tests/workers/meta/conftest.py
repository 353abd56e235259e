"""Fixtures of the meta-store conformance suite: every test taking `store` runs once per
engine in meta_support.ENGINES, against a fresh database (SQLite: a file in a temp directory;
PostgreSQL: a schema of its own, dropped after the test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from protocol.lifecycle import DatabaseSettings, RedisSettings
from tests.workers.meta.meta_support import (
    ENGINES,
    MASTER_KEY,
    World,
    drop_pg_schemas,
    open_engine,
)
from tests.workers.meta.redis_support import flush_prefix, new_prefix, require_redis
from workers.meta.engines import open_store
from workers.meta.sqlite import SqliteStore
from workers.meta.store import MetaStore

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """asyncpg runs on asyncio only (the meta process runs asyncio whenever PostgreSQL is
    configured): the trio variants of the PostgreSQL tests are deselected, not skipped."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if _HERE not in item.path.parents:
            kept.append(item)
            continue
        if params.get("engine") == "postgres":
            item.add_marker(pytest.mark.postgres)
        on_pg = item.get_closest_marker("postgres") is not None
        if on_pg and params.get("anyio_backend") == "trio":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _drop_test_schemas() -> Iterator[None]:
    yield
    drop_pg_schemas()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(engine: str, tmp_path: Path) -> AsyncIterator[MetaStore]:
    async with open_engine(engine, tmp_path / "data") as opened:
        yield opened


@pytest.fixture
async def world(store: MetaStore) -> World:
    alice = await store.create_user("alice")
    bob = await store.create_user("bob")
    await store.create_bucket(alice.user_id, "alpha")
    return World(store=store, alice=alice.user_id, bob=bob.user_id)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        assert isinstance(store, SqliteStore)
        yield store


# The Redis tests' connection settings and a key prefix of their own, flushed afterwards
# (require_redis skips, or under CI=true fails, when Redis is unreachable).
@pytest.fixture
def settings() -> RedisSettings:
    return require_redis()


@pytest.fixture
def prefix(settings: RedisSettings) -> Iterator[str]:
    value = new_prefix()
    yield value
    flush_prefix(value)
