"""Choosing and opening the metadata engine named by `database.driver`: "sqlite" (one node,
the database file in the data directory) or "postgres" (any number of nodes sharing one
PostgreSQL database; the meta process must run on asyncio, asyncpg's only event loop)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio.to_thread

from protocol.lifecycle import DatabaseSettings
from workers.meta.credentials import parse_master_key
from workers.meta.sqlite import open_sqlite_store
from workers.meta.store import MetaStore

DRIVERS = ("sqlite", "postgres")


def sqlite_path(base_path: str, database: DatabaseSettings) -> str:
    return database.path or os.path.join(base_path, "meta.db")


@asynccontextmanager
async def open_store(
    base_path: str, database: DatabaseSettings, master_key: str
) -> AsyncIterator[MetaStore]:
    """Open the configured engine (creating the data directory and database, applying
    migrations), yield it, and close it on exit."""
    key = parse_master_key(master_key)
    if database.driver not in DRIVERS:
        raise ValueError(
            f"database.driver {database.driver!r} is not available in this build"
            f" (available: {', '.join(DRIVERS)})"
        )
    await anyio.to_thread.run_sync(partial(os.makedirs, base_path, exist_ok=True))
    if database.driver == "postgres":
        # Imported here: asyncpg is an optional dependency (the "postgres" extra).
        from workers.meta.postgres import open_postgres_store

        async with open_postgres_store(base_path, database, key) as pg:
            yield pg
        return
    async with open_sqlite_store(sqlite_path(base_path, database), base_path, database, key) as s:
        yield s
