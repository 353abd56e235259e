"""Numbered schema migrations for SQLite: `schema/sqlite/NNNN_name.sql`, each applied once, in
order, inside its own transaction, and recorded in `schema_migrations`."""

from __future__ import annotations

import re
import sqlite3
import time
from importlib import resources

from workers.meta.store import MigrationStatus

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with this build, in order."""
    found: list[tuple[int, str, str]] = []
    folder = resources.files("workers.meta").joinpath("schema", "sqlite")
    for entry in folder.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate schema migration numbers in {folder}: {versions}")
    return found


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
    unknown = sorted(set(applied) - {version for version, _, _ in shipped})
    if unknown:
        raise RuntimeError(
            f"the metadata database has schema migrations {unknown} that this build does not"
            " know: it was written by a newer alexanderd; refusing to open it"
        )
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
    applied = _applied(conn)
    return [
        MigrationStatus(version=version, name=name, applied_at=applied.get(version))
        for version, name, _ in available()
    ]
