"""The two index seeks of a SQLite listing ordered by (key, something within the key):
ListObjectVersions (newest first within a key) and ListMultipartUploads (oldest first).
The PostgreSQL engine has the same shape in workers/meta/postgres/listing.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from dataclasses import dataclass

from workers.meta.walk import Position, Row


@dataclass(frozen=True, slots=True)
class Seeks:
    """`in_key` continues inside one key after a point (parameters: bucket, key, within,
    limit); `from_key[(op, bounded)]` starts at a key (bucket, key, [upper,] limit)."""

    in_key: str
    from_key: dict[tuple[str, bool], str]

    def fetch(
        self,
        conn: sqlite3.Connection,
        bucket: str,
        upper: str | None,
        position: Position,
        limit: int,
    ) -> Generator[Row, None, None]:
        """Rows inside `position.key` after `position.within`, then rows of later keys; read
        lazily, so the walk stops stepping the cursor where it stops reading."""
        if position.within is not None:
            cursor = conn.execute(self.in_key, (bucket, position.key, position.within, limit))
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
        cursor = conn.execute(self.from_key[(op, upper is not None)], (*params, limit))
        try:
            yield from cursor
        finally:
            cursor.close()
