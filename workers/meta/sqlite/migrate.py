"""Numbered schema migrations for SQLite: `schema/sqlite/NNNN_name.sql`, each applied once, in
order, inside its own transaction, and recorded in `schema_migrations`."""

from __future__ import annotations

import sqlite3
import time

from workers.meta import schema_files
from workers.meta.store import MigrationStatus


def available() -> list[schema_files.Migration]:
    """(version, name, sql) of every SQLite migration shipped with this build, in order."""
    return schema_files.available("sqlite")


def _ensure_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )


def _applied(conn: sqlite3.Connection) -> dict[int, float]:
    rows = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
    return {int(version): float(at) for version, at in rows}


def apply(conn: sqlite3.Connection) -> list[int]:
    """Apply every pending migration; returns the versions applied now. `conn` must be in
    autocommit mode (isolation_level None). Refuses a database newer than this build."""
    _ensure_table(conn)
    shipped = available()
    applied = _applied(conn)
    schema_files.check_known(applied, shipped)
    done: list[int] = []
    for version, name, sql in shipped:
        if version in applied:
            continue
        # executescript would COMMIT a transaction we opened, so the script opens its own
        # and records itself before committing: a failure anywhere leaves nothing behind.
        script = (
            "BEGIN IMMEDIATE;\n"
            f"{sql}\n;\n"
            f"INSERT INTO schema_migrations (version, name, applied_at)"
            f" VALUES ({version}, '{name}', {time.time()!r});\n"
            "COMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise RuntimeError(f"schema migration {version:04d}_{name} failed: {exc}") from exc
        done.append(version)
    return done


def status(conn: sqlite3.Connection) -> list[MigrationStatus]:
    return schema_files.status(_applied(conn), available())
