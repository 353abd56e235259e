"""ListObjectVersions on SQLite: every version and delete marker, keys in UTF-8 binary order,
newest first within a key (objects_versions index: bucket, key, seq DESC), paged by
key-marker / version-id-marker, with delimiter roll-up into common prefixes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator

from protocol.meta import VersionList
from workers.meta import engine_rules, pages
from workers.meta.ids import NULL_VERSION
from workers.meta.sqlite import buckets
from workers.meta.sqlite.connection import one_listing_at_a_time
from workers.meta.sqlite.seeks import Seeks
from workers.meta.store import MAX_LIST_KEYS
from workers.meta.upload_rules import check_list_limit
from workers.meta.walk import Position, Row, Walker, walk

_SELECT = (
    "SELECT o.key, o.version_id, o.is_latest, o.delete_marker, o.size, o.etag,"
    " o.last_modified, o.storage_class, o.owner_id, COALESCE(u.name, ''), o.seq"
    " FROM objects o LEFT JOIN users u ON u.id = o.owner_id WHERE o.bucket = ?"
)
SEEKS = Seeks(
    in_key=_SELECT + " AND o.key = ? AND o.seq < ? ORDER BY o.seq DESC LIMIT ?",
    from_key={
        (op, bounded): _SELECT
        + f" AND o.key {op} ?"
        + (" AND o.key < ?" if bounded else "")
        + " ORDER BY o.key, o.seq DESC LIMIT ?"
        for op in (">", ">=")
        for bounded in (False, True)
    },
)


def _null_seq(conn: sqlite3.Connection, bucket: str, key: str) -> int | None:
    row = conn.execute(
        "SELECT seq FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
        (bucket, key, NULL_VERSION),
    ).fetchone()
    return None if row is None else int(row[0])


@one_listing_at_a_time
def list_versions(
    conn: sqlite3.Connection,
    *,
    count_rows: Callable[[int], None],
    principal: str | None,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
) -> VersionList:
    check_list_limit("max-keys", max_keys, MAX_LIST_KEYS)
    engine_rules.check_versions_query(key_marker, version_id_marker)
    # One read transaction: every seek of this page sees the same snapshot.
    conn.execute("BEGIN")
    try:
        buckets.authorize(conn, principal, bucket, "read")
        start = pages.start_position(prefix, key_marker)
        if start is None:
            return VersionList()
        if not start.inclusive:
            null_seq = None
            if version_id_marker == NULL_VERSION:
                null_seq = _null_seq(conn, bucket, key_marker)
            start = pages.versions_resume(key_marker, version_id_marker, null_seq)
        upper = pages.upper_bound(prefix)

        def fetch(position: Position, limit: int) -> Generator[Row, None, None]:
            return SEEKS.fetch(conn, bucket, upper, position, limit)

        walker = Walker(
            start=start,
            after=lambda row: Position(row[0], within=row[10]),
            prefix=prefix,
            delimiter=delimiter,
            marker=key_marker,
            max_items=max_keys,
        )
        page = walk(fetch, walker)
    finally:
        conn.execute("COMMIT")
    count_rows(page.rows_read)
    return pages.version_list(page)
