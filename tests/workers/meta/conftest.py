"""Fixtures of the meta-store conformance suite: every test taking `store` runs once per
engine in meta_support.ENGINES, against a fresh database in a temp directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.workers.meta.meta_support import ENGINES, World, open_engine
from workers.meta.store import MetaStore


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
