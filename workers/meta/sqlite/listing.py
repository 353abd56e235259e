"""ListObjects on SQLite: one ordered walk of the current-version index that merges keys and
common prefixes, seeking past each common prefix instead of reading the keys under it (the
walk itself is workers/meta/walk.py's, shared by the engines)."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable

from protocol.meta import ObjectList
from workers.meta import pages, records, walk
from workers.meta.rules import error
from workers.meta.sqlite import buckets
from workers.meta.sqlite.connection import one_listing_at_a_time
from workers.meta.store import MAX_LIST_KEYS
from workers.meta.walk import Position, Row

# Index-ordered seek over current versions; {op} is ">" (after a key) or ">=" (at a bound).
# Owner names are looked up once per page (`_owner_names`), not joined to every row.
_SEEK = (
    "SELECT key, size, etag, last_modified, storage_class, owner_id, delete_marker"
    # The planner, without statistics, may pick the all-versions index, which would walk
    # every noncurrent version too: the partial index of latest versions is the right one.
    " FROM objects INDEXED BY objects_current"
    " WHERE bucket = ? AND is_latest = 1 AND key {op} ?{upper}"
    " ORDER BY key LIMIT ?"
)
SEEK_SQL = {
    (op, bounded): _SEEK.format(op=op, upper=" AND key < ?" if bounded else "")
    for op in (">", ">=")
    for bounded in (False, True)
}


@one_listing_at_a_time
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
    start = pages.start_position(prefix, after)
    # One read transaction: every seek of this page sees the same snapshot.
    conn.execute("BEGIN")
    try:
        buckets.authorize(conn, principal, bucket, "read")
        if start is None:
            return ObjectList()
        walker = walk.Walker(
            start=start,
            after=walk.key_position,
            prefix=prefix,
            delimiter=delimiter,
            marker=after,
            max_items=max_keys,
            # A delete marker is not listed: the walk steps over it.
            skip=operator.itemgetter(records.OBJECT_DELETE_MARKER),
        )
        try:
            page = walk.walk(_seeker(conn, bucket, pages.upper_bound(prefix)), walker)
        finally:
            count_rows(walker.page.rows_read)
        names = _owner_names(conn, page.rows)
    finally:
        conn.execute("COMMIT")
    return pages.object_list(page, names)


def _seeker(conn: sqlite3.Connection, bucket: str, upper: str | None) -> walk.Fetch:
    def fetch(position: Position, limit: int) -> sqlite3.Cursor:
        # The cursor itself, read lazily by the walk (which closes it when it seeks away).
        sql = SEEK_SQL[(">=" if position.inclusive else ">", upper is not None)]
        if upper is None:
            return conn.execute(sql, (bucket, position.key, limit))
        return conn.execute(sql, (bucket, position.key, upper, limit))

    return fetch


def _owner_names(conn: sqlite3.Connection, rows: list[Row]) -> dict[str, str]:
    """The names of the owners of `rows` (a page has few distinct owners; an owner without
    a user row is absent: its name is '')."""
    owners = list({row[5] for row in rows})
    names: dict[str, str] = {}
    # Batches stay under SQLite's bound-parameter limit (999 before 3.32).
    for at in range(0, len(owners), 500):
        batch = owners[at : at + 500]
        sql = f"SELECT id, name FROM users WHERE id IN ({','.join('?' * len(batch))})"
        names.update(conn.execute(sql, batch).fetchall())
    return names
