"""The version rows of a key (PostgreSQL): reading them, writing a new version or delete
marker under the bucket's versioning state, and removing one version for good.

Every writer of a key holds the key's advisory lock (locks.py), so within one write
transaction the key's versions change only through these functions. Invariants, as in the
SQLite engine: at most one row per key has is_latest, and it has the highest seq; every
version's blob list holds one reference per entry, given back when the version goes.

Keys are stored as bytea (their UTF-8 bytes): they compare in binary order whatever the
database's collation, and any character S3 allows (NUL included) round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workers.meta import ids
from workers.meta.blob_refs import Plan, Tally, tally
from workers.meta.ids import NULL_VERSION, Clock
from workers.meta.postgres import blobs
from workers.meta.postgres.db import Conn
from workers.meta.records import Content, Row, decode_blobs, text

# The object version columns in records.object_info's order (the key still as bytes).
COLUMNS = (
    "o.key, o.version_id, o.delete_marker, o.size, o.etag, o.last_modified, o.blobs,"
    " o.headers, o.user_meta, o.checksums, o.storage_class, o.owner_id,"
    " COALESCE(u.name, ''), o.corrupt"
)
FROM = " FROM objects o LEFT JOIN users u ON u.id = o.owner_id"


def decoded(row: Any) -> Row:
    """A fetched row with its key (first column) decoded from UTF-8 bytes."""
    return (bytes(row[0]).decode("utf-8"), *tuple(row)[1:])


@dataclass(frozen=True, slots=True)
class KeyState:
    """What a writer of a key needs to know before writing: the latest version (for the
    conditional write and the version order) and the null version's references (replaced
    under versioning "" and "Suspended")."""

    latest: tuple[bool, str] | None  # (is a delete marker, ETag)
    latest_id: str
    latest_seq: int
    null_refs: Tally | None  # None: no null version


# The rows a writer needs: the latest version and the null version (often the same row).
KEY_ROWS = (
    "SELECT is_latest, delete_marker, etag, seq, version_id, blobs FROM objects"
    " WHERE bucket = {bucket} AND key = {key} AND (is_latest OR version_id = 'null')"
)


def key_state_of(rows: Iterable[Iterable[Any]]) -> KeyState:
    latest: tuple[bool, str] | None = None
    latest_id, seq = "", 0
    null_refs: Tally | None = None
    for is_latest, marker, etag, row_seq, version_id, blob_text in rows:
        if is_latest:
            latest, latest_id, seq = (bool(marker), str(etag)), str(version_id), int(row_seq)
        if version_id == NULL_VERSION:
            null_refs = tally(decode_blobs(blob_text))
    return KeyState(latest, latest_id, seq, null_refs)


async def key_state(conn: Conn, bucket: str, key: str) -> KeyState:
    rows = await conn.fetch(KEY_ROWS.format(bucket="$1", key="$2"), bucket, key.encode())
    return key_state_of(rows)


def next_stamp(clock: Clock, state: KeyState) -> int:
    """A stamp newer than the key's latest version even when another node's clock is
    ahead of ours: versions of a key stay ordered by the order they were written."""
    stamp = max(clock.next(), state.latest_seq + 1)
    clock.seed(stamp)
    return stamp


# One statement: remove the replaced null version, demote the latest, apply the reference
# changes and insert the new version. The INSERT reads the first two CTEs so that they run
# before it (the new row would collide with the rows they remove from the unique indexes).
_WRITE = (
    "WITH del AS (DELETE FROM objects WHERE $3 AND bucket = $1 AND key = $2"
    "  AND version_id = 'null' RETURNING 1),"
    " old AS (UPDATE objects SET is_latest = false WHERE $4 AND bucket = $1 AND key = $2"
    "  AND is_latest AND NOT ($3 AND version_id = 'null') RETURNING 1), "
    + blobs.ctes(17)
    + " INSERT INTO objects (bucket, key, version_id, is_latest, delete_marker, size, etag,"
    " last_modified, blobs, headers, user_meta, checksums, storage_class, owner_id, seq)"
    " SELECT $1, $2, $5::text, true, $6::boolean, $7::bigint, $8::text, $9::float8,"
    " $10::text, $11::text, $12::text, $13::text, $14::text, $15::text, $16::bigint"
    " FROM (SELECT count(*) FROM del) d, (SELECT count(*) FROM old) o"
)


async def write(
    conn: Conn,
    *,
    bucket: str,
    versioning: str,
    key: str,
    state: KeyState,
    content: Content | None,
    plan: Plan,
    owner_id: str,
    now: float,
    stamp: int,
    also_released: Tally | None = None,
) -> str:
    """Make a new latest version of `key` (a delete marker when `content` is None) holding
    the references of `plan` (checked by blobs.plan_references), and return its version id.
    The previous latest becomes noncurrent; under versioning "" or "Suspended" the previous
    null version is removed and its references given back, with `also_released` (the parts
    of a completed upload) in the same change."""
    released: Tally = dict(also_released or {})
    replace_null = versioning != "Enabled" and state.null_refs is not None
    version_id = ids.new_version_id(stamp) if versioning == "Enabled" else NULL_VERSION
    if replace_null and state.null_refs is not None:
        for sha256, (size, count) in state.null_refs.items():
            released[sha256] = (size, released.get(sha256, (size, 0))[1] + count)
    demote = state.latest is not None and not (replace_null and state.latest_id == NULL_VERSION)
    body = content or Content(size=0, etag="", blobs=[])
    await conn.execute(
        _WRITE,
        bucket,
        key.encode(),
        replace_null,
        demote,
        version_id,
        content is None,
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
        *blobs.Change.of(plan, released).args(now),
    )
    return version_id


# One statement: delete the version, promote the next newest when it was the latest, and
# give back its references (parsed from its blob list: {"sha256": ...} entries).
_REMOVE = (
    "WITH gone AS (DELETE FROM objects WHERE bucket = $1 AND key = $2 AND version_id = $3"
    "  RETURNING blobs, delete_marker, is_latest),"
    " promoted AS (UPDATE objects SET is_latest = true WHERE (bucket, key, version_id) = ("
    "  SELECT bucket, key, version_id FROM objects WHERE bucket = $1 AND key = $2"
    "  AND version_id <> $3 ORDER BY seq DESC LIMIT 1)"
    "  AND EXISTS (SELECT 1 FROM gone WHERE is_latest) RETURNING 1),"
    " released AS (INSERT INTO blob_deltas (sha256, delta, at)"
    "  SELECT e ->> 'sha256', -count(*), $4::float8"
    "  FROM gone, jsonb_array_elements(gone.blobs::jsonb) e GROUP BY 1 RETURNING 1)"
    " SELECT delete_marker, (SELECT count(*) FROM promoted), (SELECT count(*) FROM released)"
    " FROM gone"
)


async def remove(
    conn: Conn, bucket: str, key: str, version_id: str, now: float
) -> tuple[bool, bool]:
    """Delete one version for good: (it existed, it was a delete marker). When it was the
    latest, the next newest version (if any) becomes the latest."""
    row = await conn.fetchrow(_REMOVE, bucket, key.encode(), version_id, now)
    if row is None:
        return False, False
    return True, bool(row[0])
