"""ListMultipartUploads on SQLite: uploads in progress ordered by key, then by initiation
(upload ids sort by initiation time, workers/meta/ids.py), paged by key-marker and
upload-id-marker, with delimiter roll-up into common prefixes."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator

from protocol.meta import ListMultipartUploads, UploadList
from workers.meta import pages
from workers.meta.sqlite import buckets
from workers.meta.sqlite.connection import one_listing_at_a_time
from workers.meta.sqlite.seeks import Seeks
from workers.meta.upload_rules import MAX_LIST_UPLOADS, check_list_limit
from workers.meta.walk import Position, Row, Walker, walk

_SELECT = (
    "SELECT p.key, p.upload_id, p.initiated, p.storage_class, p.owner_id, COALESCE(u.name, ''),"
    " p.checksum_algorithm FROM uploads p LEFT JOIN users u ON u.id = p.owner_id"
    " WHERE p.bucket = ? AND p.completed_at IS NULL"
)
SEEKS = Seeks(
    in_key=_SELECT + " AND p.key = ? AND p.upload_id > ? ORDER BY p.upload_id LIMIT ?",
    from_key={
        (op, bounded): _SELECT
        + f" AND p.key {op} ?"
        + (" AND p.key < ?" if bounded else "")
        + " ORDER BY p.key, p.upload_id LIMIT ?"
        for op in (">", ">=")
        for bounded in (False, True)
    },
)


@one_listing_at_a_time
def list_uploads(conn: sqlite3.Connection, req: ListMultipartUploads) -> UploadList:
    check_list_limit("max-uploads", req.max_uploads, MAX_LIST_UPLOADS)
    prefix, marker = req.prefix, req.key_marker
    conn.execute("BEGIN")
    try:
        buckets.authorize(conn, req.principal, req.bucket, "read")
        start = pages.start_position(prefix, marker)
        if start is None:
            return UploadList()
        if not start.inclusive:
            start = pages.uploads_resume(marker, req.upload_id_marker)
        upper = pages.upper_bound(prefix)

        def fetch(position: Position, limit: int) -> Generator[Row, None, None]:
            return SEEKS.fetch(conn, req.bucket, upper, position, limit)

        walker = Walker(
            start=start,
            after=lambda row: Position(row[0], within=row[1]),
            prefix=prefix,
            delimiter=req.delimiter,
            marker=marker,
            max_items=req.max_uploads,
        )
        return pages.upload_list(walk(fetch, walker))
    finally:
        conn.execute("COMMIT")
