"""ListObjects on SQLite: one ordered walk of the current-version index that merges keys and
common prefixes, seeking past each common prefix instead of reading the keys under it (the
walk itself is workers/meta/walk.py's, shared by the engines)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

from protocol.meta import ObjectList
from workers.meta import pages, walk
from workers.meta.rules import error
from workers.meta.sqlite import buckets
from workers.meta.store import MAX_LIST_KEYS
from workers.meta.walk import Position, Row

# Index-ordered seek over current versions; {op} is ">" (after a key) or ">=" (at a bound).
_SEEK = (
    "SELECT o.key, o.size, o.etag, o.last_modified, o.storage_class, o.owner_id,"
    " COALESCE(u.name, ''), o.delete_marker"
    # The planner, without statistics, may pick the all-versions index, which would walk
    # every noncurrent version too: the partial index of latest versions is the right one.
    " FROM objects o INDEXED BY objects_current LEFT JOIN users u ON u.id = o.owner_id"
    " WHERE o.bucket = ? AND o.is_latest = 1 AND o.key {op} ?{upper}"
    " ORDER BY o.key LIMIT ?"
)
SEEK_SQL = {
    (op, bounded): _SEEK.format(op=op, upper=" AND o.key < ?" if bounded else "")
    for op in (">", ">=")
    for bounded in (False, True)
}


def list_objects(
    conn: sqlite3.Connection,
    *,
    count_rows: Callable[[int], None],
    principal: str | None,
    bucket: str,
    prefix: str,
    delimiter: str,
    after: str,
    max_keys: int,
) -> ObjectList:
    if not 0 <= max_keys <= MAX_LIST_KEYS:
        raise error("InvalidArgument", f"max-keys must be between 0 and {MAX_LIST_KEYS}.")
    # One read transaction: every seek of this page sees the same snapshot.
    conn.execute("BEGIN")
    try:
        buckets.authorize(conn, principal, bucket, "read")
        return _walk(
            conn,
            count_rows=count_rows,
            bucket=bucket,
            prefix=prefix,
            delimiter=delimiter,
            after=after,
            max_keys=max_keys,
        )
    finally:
        conn.execute("COMMIT")


def _walk(
    conn: sqlite3.Connection,
    *,
    count_rows: Callable[[int], None],
    bucket: str,
    prefix: str,
    delimiter: str,
    after: str,
    max_keys: int,
) -> ObjectList:
    start = pages.start_position(prefix, after)
    if start is None:
        return ObjectList()
    upper = pages.upper_bound(prefix)

    def fetch(position: Position, limit: int) -> Iterator[Row]:
        sql = SEEK_SQL[(">=" if position.inclusive else ">", upper is not None)]
        params: tuple[object, ...] = (bucket, position.key)
        if upper is not None:
            params += (upper,)
        cursor = conn.execute(sql, (*params, limit))
        try:
            yield from cursor
        finally:
            cursor.close()

    walker = walk.Walker(
        start=start,
        after=walk.key_position,
        prefix=prefix,
        delimiter=delimiter,
        marker=after,
        max_items=max_keys,
        skip=lambda row: bool(row[7]),  # a delete marker is not listed; step over it
    )
    try:
        return pages.object_list(walk.walk(fetch, walker))
    finally:
        count_rows(walker.page.rows_read)
