"""Numbered schema migrations for PostgreSQL (`schema/postgres/NNNN_name.sql`), applied at
startup in one transaction that first takes a transaction-scoped advisory lock: nodes
starting at once queue on the lock, and each after the first finds everything applied.
PostgreSQL's DDL is transactional, so a failing migration leaves nothing behind.

One catch: a backend refreshes its catalog caches when a transaction starts (and when it
locks a relation), not when it gets an advisory lock. A node that waited for the lock may
still believe in a schema or table that was missing before the wait and fail to create it
("already exists"): that attempt is rolled back and the migration transaction runs once
more, from a fresh start that sees the other node's work."""

from __future__ import annotations

import logging
import time

from asyncpg import exceptions as pgerr

from workers.meta import schema_files
from workers.meta.postgres.db import Conn, Database
from workers.meta.postgres.locks import MIGRATIONS
from workers.meta.store import MigrationStatus

log = logging.getLogger("alexanderd.meta.postgres")


def available() -> list[schema_files.Migration]:
    return schema_files.available("postgres")


async def _applied(conn: Conn) -> dict[int, float]:
    rows = await conn.fetch("SELECT version, applied_at FROM schema_migrations")
    return {int(version): float(at) for version, at in rows}


async def apply(db: Database, schema: str | None = None) -> list[int]:
    """Apply every pending migration; returns the versions applied now. Creates `schema`
    first when one is named (tests isolate themselves in one). Refuses a database newer
    than this build."""
    shipped = available()

    async def op(conn: Conn) -> list[int]:
        await conn.execute(f"SELECT pg_catalog.pg_advisory_xact_lock({MIGRATIONS})")
        if schema:
            quoted = '"' + schema.replace('"', '""') + '"'
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at double precision NOT NULL)"
        )
        applied = await _applied(conn)
        schema_files.check_known(applied, shipped)
        done: list[int] = []
        for version, name, sql in shipped:
            if version in applied:
                continue
            try:
                await conn.execute(sql)  # no arguments: the simple protocol runs the script
            except pgerr.PostgresError as exc:
                raise MigrationFailed(version, name, exc) from exc
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                time.time(),
            )
            done.append(version)
        return done

    try:
        return await db.write(op)
    except (pgerr.PostgresError, MigrationFailed) as exc:
        log.info("schema migration raced another node, trying again: %s", exc)
    try:
        return await db.write(op)
    except MigrationFailed as exc:
        raise RuntimeError(str(exc)) from exc


class MigrationFailed(Exception):
    def __init__(self, version: int, name: str, cause: Exception) -> None:
        super().__init__(f"schema migration {version:04d}_{name} failed: {cause}")


async def status(conn: Conn) -> list[MigrationStatus]:
    return schema_files.status(await _applied(conn), available())
