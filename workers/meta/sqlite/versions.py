"""The version rows of a key (SQLite): reading them as ObjectInfo, writing a new version or
delete marker under the bucket's versioning state, and removing one version for good.

Invariants kept here, inside the caller's write transaction:
- at most one row per key has is_latest = 1, and it is the row with the highest seq;
- every version's blob list holds one reference per entry (blobs.refcount); a version that
  is replaced or removed gives its references back in the same transaction.
Versioning "" (never enabled) and "Suspended" write the "null" version, replacing the
previous null version (and only it); "Enabled" adds a version with a generated id.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from workers.meta import ids
from workers.meta.blob_refs import tally
from workers.meta.ids import NULL_VERSION
from workers.meta.records import Content, decode_blobs, text
from workers.meta.sqlite import blobs

# The object version columns in records.object_info's order.
SELECT = (
    "SELECT o.key, o.version_id, o.delete_marker, o.size, o.etag, o.last_modified, o.blobs,"
    " o.headers, o.user_meta, o.checksums, o.storage_class, o.owner_id,"
    " COALESCE(u.name, ''), o.corrupt"
    " FROM objects o LEFT JOIN users u ON u.id = o.owner_id"
)
Row = tuple[Any, ...]


def latest(conn: sqlite3.Connection, bucket: str, key: str) -> Row | None:
    row: Row | None = conn.execute(
        SELECT + " WHERE o.bucket = ? AND o.key = ? AND o.is_latest = 1", (bucket, key)
    ).fetchone()
    return row


def by_id(conn: sqlite3.Connection, bucket: str, key: str, version_id: str) -> Row | None:
    row: Row | None = conn.execute(
        SELECT + " WHERE o.bucket = ? AND o.key = ? AND o.version_id = ?",
        (bucket, key, version_id),
    ).fetchone()
    return row


def latest_state(conn: sqlite3.Connection, bucket: str, key: str) -> tuple[bool, str] | None:
    """(is a delete marker, ETag) of the key's latest version, for conditional writes."""
    row = conn.execute(
        "SELECT delete_marker, etag FROM objects WHERE bucket = ? AND key = ? AND is_latest = 1",
        (bucket, key),
    ).fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


def _release_row_blobs(conn: sqlite3.Connection, blob_text: str, now: float) -> None:
    refs = decode_blobs(blob_text)
    if refs:
        blobs.release(conn, tally(refs), now)


def write(
    conn: sqlite3.Connection,
    *,
    bucket: str,
    versioning: str,
    key: str,
    content: Content | None,
    owner_id: str,
    now: float,
    stamp: int,
) -> str:
    """Make a new latest version of `key` (a delete marker when `content` is None) and
    return its version id. The previous latest becomes noncurrent; under versioning "" or
    "Suspended" the previous null version is removed and its references released."""
    conn.execute(
        "UPDATE objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1",
        (bucket, key),
    )
    if versioning == "Enabled":
        version_id = ids.new_version_id(stamp)
    else:
        version_id = NULL_VERSION
        old = conn.execute(
            "DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ? RETURNING blobs",
            (bucket, key, NULL_VERSION),
        ).fetchone()
        if old is not None:
            _release_row_blobs(conn, old[0], now)
    body = content or Content(size=0, etag="", blobs=[])
    conn.execute(
        "INSERT INTO objects (bucket, key, version_id, is_latest, delete_marker, size, etag,"
        " last_modified, blobs, headers, user_meta, checksums, storage_class, owner_id, seq)"
        " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            bucket,
            key,
            version_id,
            int(content is None),
            body.size,
            body.etag,
            round(now, 3),
            text(body.blobs),
            text(body.headers),
            text(body.user_meta),
            text(body.checksums),
            body.storage_class,
            owner_id,
            stamp,
        ),
    )
    return version_id


def remove(
    conn: sqlite3.Connection, bucket: str, key: str, version_id: str, now: float
) -> tuple[bool, bool]:
    """Delete one version for good: (it existed, it was a delete marker). When it was the
    latest, the next newest version (if any) becomes the latest."""
    row = conn.execute(
        "DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ?"
        " RETURNING blobs, delete_marker, is_latest",
        (bucket, key, version_id),
    ).fetchone()
    if row is None:
        return False, False
    blob_text, marker, was_latest = row
    _release_row_blobs(conn, blob_text, now)
    if was_latest:
        conn.execute(
            "UPDATE objects SET is_latest = 1 WHERE rowid = (SELECT rowid FROM objects"
            " WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1)",
            (bucket, key),
        )
    return True, bool(marker)
