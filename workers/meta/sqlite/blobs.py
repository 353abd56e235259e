"""Blob reference counting and the blob-table hooks of GC and scrub (SQLite).

Everything here that writes runs inside the writer's transaction, so a reference taken by a
commit and a GC deletion are strictly ordered: GC deletes a row only if it is still at zero,
and a commit that creates or revives a row first checks the file is really on disk.
"""

from __future__ import annotations

import sqlite3

from workers.meta.blob_refs import Plan, Tally, on_disk, plan_one
from workers.meta.store import BlobRow, QuarantineBlob, RemoveLeaked, UnlinkBlobs


def plan_references(conn: sqlite3.Connection, base: str, wanted: Tally) -> Plan:
    """Check that every wanted blob can be referenced (workers/meta/blob_refs.py), writing
    nothing."""
    plan: Plan = []
    for sha256, (size, count) in wanted.items():
        row = conn.execute(
            "SELECT size, refcount FROM blobs WHERE sha256 = ?", (sha256,)
        ).fetchone()
        plan.append(plan_one(base, sha256, size, count, None if row is None else tuple(row)))
    return plan


def apply_references(conn: sqlite3.Connection, plan: Plan) -> None:
    for sha256, size, count, exists in plan:
        if exists:
            conn.execute(
                "UPDATE blobs SET refcount = refcount + ?, orphaned_at = NULL WHERE sha256 = ?",
                (count, sha256),
            )
        else:
            conn.execute(
                "INSERT INTO blobs (sha256, size, refcount) VALUES (?, ?, ?)",
                (sha256, size, count),
            )


def adopt_orphans(conn: sqlite3.Connection, base: str, wanted: Tally, now: float) -> None:
    """Register the blobs of a refused commit that no row knows yet as orphans, so GC
    collects their files instead of leaking them (only files really present, right size)."""
    for sha256, (size, _) in wanted.items():
        if conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha256,)).fetchone():
            continue
        if not on_disk(base, sha256, size):
            continue
        conn.execute(
            "INSERT INTO blobs (sha256, size, refcount, orphaned_at) VALUES (?, ?, 0, ?)",
            (sha256, size, now),
        )


def release(conn: sqlite3.Connection, held: Tally, now: float) -> None:
    for sha256, (_, count) in held.items():
        conn.execute(
            "UPDATE blobs SET refcount = refcount - ?,"
            " orphaned_at = CASE WHEN refcount - ? = 0 THEN ? ELSE orphaned_at END"
            " WHERE sha256 = ?",
            (count, count, now, sha256),
        )


def _row(row: tuple[str, int, int, float | None]) -> BlobRow:
    return BlobRow(sha256=row[0], size=row[1], refcount=row[2], orphaned_at=row[3])


def orphaned(conn: sqlite3.Connection, older_than: float, limit: int) -> list[BlobRow]:
    rows = conn.execute(
        "SELECT sha256, size, refcount, orphaned_at FROM blobs"
        " WHERE refcount = 0 AND orphaned_at <= ? ORDER BY orphaned_at LIMIT ?",
        (older_than, limit),
    )
    return [_row(row) for row in rows]


def drop_orphans(
    conn: sqlite3.Connection, sha256s: list[str], older_than: float, unlink: UnlinkBlobs
) -> list[BlobRow]:
    dropped: list[BlobRow] = []
    for sha256 in sha256s:
        row = conn.execute(
            "DELETE FROM blobs WHERE sha256 = ? AND refcount = 0 AND orphaned_at <= ?"
            " RETURNING sha256, size, refcount, orphaned_at",
            (sha256, older_than),
        ).fetchone()
        if row is not None:
            dropped.append(_row(row))
    if dropped:
        # Files go before COMMIT: a crash in between leaves rows without files, which the
        # next pass deletes (ENOENT is fine) and a revival refuses (BlobMissing).
        unlink([row.sha256 for row in dropped])
    return dropped


def page(conn: sqlite3.Connection, after: str, limit: int) -> list[BlobRow]:
    rows = conn.execute(
        "SELECT sha256, size, refcount, orphaned_at FROM blobs WHERE sha256 > ?"
        " ORDER BY sha256 LIMIT ?",
        (after, limit),
    )
    return [_row(row) for row in rows]


def quarantine(conn: sqlite3.Connection, sha256: str, move: QuarantineBlob) -> int:
    if not move(sha256):
        return 0
    # Rare (bitrot), so a scan of the blob lists is acceptable here and keeps every commit
    # free of a per-blob join table.
    cur = conn.execute(
        "UPDATE objects SET corrupt = 1 WHERE corrupt = 0 AND instr(blobs, ?) > 0",
        (f'"{sha256}"',),
    )
    return cur.rowcount


# Bound on host parameters per statement (SQLite's default limit is far higher).
_IN_CHUNK = 500


def unknown(conn: sqlite3.Connection, sha256s: list[str]) -> list[str]:
    """The addresses among `sha256s` that have no blob row, in the given order."""
    known: set[str] = set()
    for start in range(0, len(sha256s), _IN_CHUNK):
        chunk = sha256s[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", chunk)
        known.update(row[0] for row in rows)
    return [sha256 for sha256 in sha256s if sha256 not in known]


def drop_leaked(
    conn: sqlite3.Connection, sha256s: list[str], remove: RemoveLeaked
) -> list[tuple[str, int]]:
    """Inside the writer: re-check that no row appeared for these files (a commit creates
    its row in this same thread, after checking the file), then let `remove` delete them."""
    still = unknown(conn, sha256s)
    return remove(still) if still else []


def get_state(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("SELECT value FROM gc_state WHERE name = ?", (name,)).fetchone()
    return "" if row is None else str(row[0])


def set_state(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO gc_state (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )
