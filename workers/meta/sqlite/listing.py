"""ListObjects on SQLite: one ordered walk of the current-version index that merges keys and
common prefixes, seeking past each common prefix instead of reading the keys under it.

    keys:   a/1  a/2 ... a/20000  b  c/x
    walk:   a/1 -> CommonPrefix "a/" -> seek key >= "a0" -> b -> c/x -> "c/" -> seek "c0" ...
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from protocol.meta import ObjectList, ObjectSummary
from workers.meta import rules
from workers.meta.rules import error
from workers.meta.sqlite import buckets
from workers.meta.store import MAX_LIST_KEYS

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
    upper = rules.successor(prefix) if prefix else None
    # Start at whichever is later: the prefix (inclusive) or the marker (exclusive).
    position, inclusive = (prefix, True) if after < prefix else (after, False)
    result = ObjectList()
    emitted = 0
    rows_read = 0
    try:
        while True:
            sql = SEEK_SQL[(">=" if inclusive else ">", upper is not None)]
            params: tuple[object, ...] = (bucket, position)
            if upper is not None:
                params += (upper,)
            limit = max_keys - emitted + 1
            fetched = 0
            reseek: str | None = None
            for row in conn.execute(sql, (*params, limit)):
                fetched += 1
                rows_read += 1
                key: str = row[0]
                if row[7]:  # a delete marker is not listed; step over it
                    position, inclusive = key, False
                    continue
                rolled = rules.common_prefix(key, prefix, delimiter)
                if rolled is not None:
                    # A prefix at or before the marker was already returned (or skipped).
                    if rolled > after:
                        if emitted == max_keys:
                            result.is_truncated = True
                            return result
                        result.common_prefixes.append(rolled)
                        result.next_after = rolled
                        emitted += 1
                    reseek = rules.successor(rolled)
                    if reseek is None:
                        return result
                    break
                if emitted == max_keys:
                    result.is_truncated = True
                    return result
                result.contents.append(
                    ObjectSummary(
                        key=key,
                        size=row[1],
                        etag=row[2],
                        last_modified=row[3],
                        storage_class=row[4],
                        owner_id=row[5],
                        owner_name=row[6],
                    )
                )
                result.next_after = key
                emitted += 1
                position, inclusive = key, False
            if reseek is not None:
                position, inclusive = reseek, True
                continue
            if fetched < limit:
                return result
    finally:
        count_rows(rows_read)
