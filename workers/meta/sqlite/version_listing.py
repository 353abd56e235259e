"""ListObjectVersions on SQLite: every version and delete marker, keys in UTF-8 binary order,
newest first within a key (objects_versions index: bucket, key, seq DESC), paged by
key-marker / version-id-marker, with delimiter roll-up into common prefixes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator

from protocol.meta import VersionList, VersionSummary
from workers.meta import ids, rules
from workers.meta.ids import NULL_VERSION
from workers.meta.rules import error
from workers.meta.sqlite import buckets
from workers.meta.sqlite.walk import Position, Row, walk
from workers.meta.store import MAX_LIST_KEYS
from workers.meta.upload_rules import check_list_limit

_SELECT = (
    "SELECT o.key, o.version_id, o.is_latest, o.delete_marker, o.size, o.etag,"
    " o.last_modified, o.storage_class, o.owner_id, COALESCE(u.name, ''), o.seq"
    " FROM objects o LEFT JOIN users u ON u.id = o.owner_id WHERE o.bucket = ?"
)
_IN_KEY = _SELECT + " AND o.key = ? AND o.seq < ? ORDER BY o.seq DESC LIMIT ?"
_FROM_KEY = {
    (op, bounded): _SELECT
    + f" AND o.key {op} ?"
    + (" AND o.key < ?" if bounded else "")
    + " ORDER BY o.key, o.seq DESC LIMIT ?"
    for op in (">", ">=")
    for bounded in (False, True)
}


def _summary(row: Row) -> VersionSummary:
    key, version_id, is_latest, marker, size, etag, modified, storage_class = row[:8]
    return VersionSummary(
        key=key,
        version_id=version_id,
        is_latest=bool(is_latest),
        delete_marker=bool(marker),
        size=size,
        etag=etag,
        last_modified=modified,
        storage_class=storage_class,
        owner_id=row[8],
        owner_name=row[9],
    )


def _start(
    conn: sqlite3.Connection, bucket: str, key_marker: str, version_id_marker: str
) -> Position:
    if not version_id_marker:
        return Position(key_marker)
    if version_id_marker != NULL_VERSION:
        return Position(key_marker, within=ids.version_stamp(version_id_marker))
    row = conn.execute(
        "SELECT seq FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
        (bucket, key_marker, NULL_VERSION),
    ).fetchone()
    # A null version deleted since the last page: continue with the next key.
    return Position(key_marker) if row is None else Position(key_marker, within=int(row[0]))


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
    if version_id_marker:
        if not key_marker:
            raise error(
                "InvalidArgument", "A version-id marker cannot be specified without a key marker."
            )
        ids.check_version_id(version_id_marker)
    # One read transaction: every seek of this page sees the same snapshot.
    conn.execute("BEGIN")
    try:
        buckets.authorize(conn, principal, bucket, "read")
        upper = rules.successor(prefix) if prefix else None
        if not key_marker or key_marker < prefix:
            start = Position(prefix, inclusive=True)
        elif upper is not None and key_marker >= upper:
            return VersionList()
        else:
            start = _start(conn, bucket, key_marker, version_id_marker)

        def fetch(position: Position, limit: int) -> Generator[Row, None, None]:
            if position.within is not None:
                cursor = conn.execute(_IN_KEY, (bucket, position.key, position.within, limit))
                try:
                    rows = 0
                    for row in cursor:
                        rows += 1
                        yield row
                finally:
                    cursor.close()
                limit -= rows
                if limit <= 0:
                    return
            op = ">=" if position.inclusive and position.within is None else ">"
            params: tuple[object, ...] = (bucket, position.key)
            if upper is not None:
                params += (upper,)
            cursor = conn.execute(_FROM_KEY[(op, upper is not None)], (*params, limit))
            try:
                yield from cursor
            finally:
                cursor.close()

        page = walk(
            fetch,
            start=start,
            after=lambda row: Position(row[0], within=row[10]),
            prefix=prefix,
            delimiter=delimiter,
            marker=key_marker,
            max_items=max_keys,
        )
    finally:
        conn.execute("COMMIT")
    count_rows(page.rows_read)
    result = VersionList(
        versions=[_summary(row) for row in page.rows],
        common_prefixes=page.prefixes,
        is_truncated=page.truncated,
    )
    if page.truncated:
        result.next_key_marker = page.last_key
        result.next_version_id_marker = "" if page.last_row is None else page.last_row[1]
    return result
