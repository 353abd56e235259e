"""SQLite ListObjects specifics: owner names looked up once per page (not joined per row),
and concurrent listings through the reader pool."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from tests.workers.meta.meta_support import put
from workers.meta.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


async def test_owner_names_per_owner_and_empty_for_unknown(sqlite_store: SqliteStore) -> None:
    alice = (await sqlite_store.create_user("alice")).user_id
    bob = (await sqlite_store.create_user("bob")).user_id
    await sqlite_store.create_bucket(alice, "alpha")
    for key in ("a", "b", "c", "d"):
        await put(sqlite_store, alice, "alpha", key)
    conn = sqlite3.connect(Path(sqlite_store.base_path) / "meta.db", isolation_level=None)
    try:
        conn.execute("UPDATE objects SET owner_id = ? WHERE key = 'b'", (bob,))
        conn.execute("UPDATE objects SET owner_id = 'f' || substr(owner_id, 2) WHERE key = 'c'")
        conn.execute("UPDATE objects SET owner_id = '' WHERE key = 'd'")
    finally:
        conn.close()
    listed = (await sqlite_store.list_objects(alice, "alpha")).contents
    assert [(o.key, o.owner_name) for o in listed] == [
        ("a", "alice"),
        ("b", "bob"),
        ("c", ""),
        ("d", ""),
    ]
    assert listed[1].owner_id == bob
    assert listed[3].owner_id == ""


async def test_concurrent_listings_each_see_their_page(sqlite_store: SqliteStore) -> None:
    alice = (await sqlite_store.create_user("alice")).user_id
    await sqlite_store.create_bucket(alice, "alpha")
    keys = [f"k{i:03d}" for i in range(60)]
    for key in keys:
        await put(sqlite_store, alice, "alpha", key)
    seen: dict[int, list[str]] = {}

    async def page(at: int) -> None:
        result = await sqlite_store.list_objects(
            alice, "alpha", after=keys[at] if at else "", max_keys=7
        )
        seen[at] = [o.key for o in result.contents]

    async with anyio.create_task_group() as tg:
        for at in range(0, 60, 3):
            tg.start_soon(page, at)
    for at, got in seen.items():
        expected = keys[at + 1 : at + 8] if at else keys[:7]
        assert got == expected
