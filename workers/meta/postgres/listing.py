"""ListObjects, ListObjectVersions and ListMultipartUploads on PostgreSQL: the shared walk
(workers/meta/walk.py) driven over index-ordered seeks, inside one REPEATABLE READ snapshot.

A seek is a round trip, and rows come back a batch at a time, so the batch size decides how
many rows a common prefix costs: with a delimiter the first batch of a seek is small (2 rows)
and each further one twice as large, so the rows fetched but not used never exceed the rows
used (plus two), and a page of 1,000 plain keys still takes ten round trips. Without a
delimiter every row fetched is returned, and a seek asks for the whole remaining page.

Keys are bytea (UTF-8): bounds are encoded, rows decoded, and `count_rows` hears how many
rows were really transferred.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from protocol.meta import ListMultipartUploads, ObjectList, UploadList, VersionList
from workers.meta import engine_rules, pages, records
from workers.meta.ids import NULL_VERSION
from workers.meta.postgres import buckets
from workers.meta.postgres.db import Conn
from workers.meta.postgres.versions import decoded
from workers.meta.store import MAX_LIST_KEYS
from workers.meta.upload_rules import MAX_LIST_UPLOADS, check_list_limit
from workers.meta.walk import Position, Row, Walker, key_position

FIRST_BATCH = 2
GROWTH = 2

Fetch = Callable[[Position, int], Awaitable[list[Row]]]


async def drive(walker: Walker, fetch: Fetch, after: Callable[[Row], Position]) -> int:
    """Run `walker` to the end of its page; returns the rows fetched."""
    fetched = 0
    while not walker.done:
        remaining = walker.begin()
        batch = FIRST_BATCH if walker.rolls_up else remaining
        position = walker.position
        while remaining > 0:
            size = min(batch, remaining)
            rows = await fetch(position, size)
            fetched += len(rows)
            if not walker.offer_all(rows) or len(rows) < size:
                break
            remaining -= size
            position = after(rows[-1])
            batch *= GROWTH
        walker.end()
    return fetched


def _bounds(op: str, upper: bool, first: int) -> str:
    """`key {op} $first` and, when bounded, `key < $first+1`."""
    return f" AND key {op} ${first}" + (f" AND key < ${first + 1}" if upper else "")


# -- ListObjects ---------------------------------------------------------------------

# Over the index of latest versions, in the row layout records.object_summaries reads;
# owner names are looked up once per page (`_owner_names`).
_OBJECTS = (
    "SELECT key, size, etag, last_modified, storage_class, owner_id, delete_marker"
    " FROM objects WHERE bucket = $1 AND is_latest{bounds} ORDER BY key LIMIT ${limit}"
)
OBJECT_SEEKS = {
    (op, upper): _OBJECTS.format(bounds=_bounds(op, upper, 2), limit=4 if upper else 3)
    for op in (">", ">=")
    for upper in (False, True)
}


async def list_objects(
    conn: Conn,
    *,
    count_rows: Callable[[int], None],
    principal: str | None,
    bucket: str,
    prefix: str,
    delimiter: str,
    after: str,
    max_keys: int,
) -> ObjectList:
    check_list_limit("max-keys", max_keys, MAX_LIST_KEYS)
    await buckets.authorize(conn, principal, bucket, "read")
    start = pages.start_position(prefix, after)
    if start is None:
        return ObjectList()
    upper = pages.upper_bound(prefix)

    async def fetch(position: Position, limit: int) -> list[Row]:
        sql = OBJECT_SEEKS[(">=" if position.inclusive else ">", upper is not None)]
        args: list[object] = [bucket, position.key.encode()]
        if upper is not None:
            args.append(upper.encode())
        return [decoded(row) for row in await conn.fetch(sql, *args, limit)]

    walker = Walker(
        start=start,
        after=key_position,
        prefix=prefix,
        delimiter=delimiter,
        marker=after,
        max_items=max_keys,
        # A delete marker is not listed: the walk steps over it.
        skip=operator.itemgetter(records.OBJECT_DELETE_MARKER),
    )
    count_rows(await drive(walker, fetch, key_position))
    return pages.object_list(walker.page, await _owner_names(conn, walker.page.rows))


async def _owner_names(conn: Conn, rows: list[Row]) -> dict[str, str]:
    """The names of the owners of `rows` (few per page; an owner without a user row is
    absent: its name is '')."""
    owners = list({row[5] for row in rows})
    if not owners:
        return {}
    found = await conn.fetch("SELECT id, name FROM users WHERE id = ANY($1::text[])", owners)
    return {row["id"]: row["name"] for row in found}


# -- ListObjectVersions and ListMultipartUploads ------------------------------------


@dataclass(frozen=True, slots=True)
class Seeks:
    """The two seeks of a listing ordered by (key, something within the key): `in_key`
    continues inside one key after a point, `from_key[(op, bounded)]` starts at a key."""

    in_key: str
    from_key: dict[tuple[str, bool], str]

    async def fetch(
        self, conn: Conn, bucket: str, upper: bytes | None, position: Position, limit: int
    ) -> list[Row]:
        """Rows inside `position.key` after `position.within`, then rows of later keys."""
        rows: list[Row] = []
        key = position.key.encode()
        if position.within is not None:
            found = await conn.fetch(self.in_key, bucket, key, position.within, limit)
            rows = [decoded(row) for row in found]
            if len(rows) == limit:
                return rows
        op = ">=" if position.inclusive and position.within is None else ">"
        bounds = [key] if upper is None else [key, upper]
        sql = self.from_key[(op, upper is not None)]
        more = await conn.fetch(sql, bucket, *bounds, limit - len(rows))
        return rows + [decoded(row) for row in more]


_VERSIONS = (
    "SELECT o.key, o.version_id, o.is_latest, o.delete_marker, o.size, o.etag,"
    " o.last_modified, o.storage_class, o.owner_id, COALESCE(u.name, ''), o.seq FROM ("
    "  SELECT * FROM objects WHERE bucket = $1{where} ORDER BY {order} LIMIT ${limit}"
    ") o LEFT JOIN users u ON u.id = o.owner_id ORDER BY {outer}"
)
VERSION_SEEKS = Seeks(
    in_key=_VERSIONS.format(
        where=" AND key = $2 AND seq < $3", order="seq DESC", limit=4, outer="o.seq DESC"
    ),
    from_key={
        (op, upper): _VERSIONS.format(
            where=_bounds(op, upper, 2),
            order="key, seq DESC",
            limit=4 if upper else 3,
            outer="o.key, o.seq DESC",
        )
        for op in (">", ">=")
        for upper in (False, True)
    },
)


def _version_after(row: Row) -> Position:
    return Position(row[0], within=row[10])


async def list_versions(
    conn: Conn,
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
    await buckets.authorize(conn, principal, bucket, "read")
    start = pages.start_position(prefix, key_marker)
    if start is None:
        return VersionList()
    if not start.inclusive:
        null_seq = None
        if version_id_marker == NULL_VERSION:
            null_seq = await conn.fetchval(
                "SELECT seq FROM objects WHERE bucket = $1 AND key = $2 AND version_id = $3",
                bucket,
                key_marker.encode(),
                NULL_VERSION,
            )
        start = pages.versions_resume(key_marker, version_id_marker, null_seq)
    upper = pages.upper_bound(prefix)
    bound = None if upper is None else upper.encode()

    async def fetch(position: Position, limit: int) -> list[Row]:
        return await VERSION_SEEKS.fetch(conn, bucket, bound, position, limit)

    walker = Walker(
        start=start,
        after=_version_after,
        prefix=prefix,
        delimiter=delimiter,
        marker=key_marker,
        max_items=max_keys,
    )
    count_rows(await drive(walker, fetch, _version_after))
    return pages.version_list(walker.page)


_UPLOADS = (
    "SELECT p.key, p.upload_id, p.initiated, p.storage_class, p.owner_id, COALESCE(u.name, ''),"
    " p.checksum_algorithm FROM ("
    "  SELECT * FROM uploads WHERE bucket = $1 AND completed_at IS NULL{where}"
    "  ORDER BY {order} LIMIT ${limit}"
    ") p LEFT JOIN users u ON u.id = p.owner_id ORDER BY {outer}"
)
UPLOAD_SEEKS = Seeks(
    in_key=_UPLOADS.format(
        where=" AND key = $2 AND upload_id > $3", order="upload_id", limit=4, outer="p.upload_id"
    ),
    from_key={
        (op, upper): _UPLOADS.format(
            where=_bounds(op, upper, 2),
            order="key, upload_id",
            limit=4 if upper else 3,
            outer="p.key, p.upload_id",
        )
        for op in (">", ">=")
        for upper in (False, True)
    },
)


def _upload_after(row: Row) -> Position:
    return Position(row[0], within=row[1])


async def list_uploads(conn: Conn, req: ListMultipartUploads) -> UploadList:
    check_list_limit("max-uploads", req.max_uploads, MAX_LIST_UPLOADS)
    await buckets.authorize(conn, req.principal, req.bucket, "read")
    start = pages.start_position(req.prefix, req.key_marker)
    if start is None:
        return UploadList()
    if not start.inclusive:
        start = pages.uploads_resume(req.key_marker, req.upload_id_marker)
    upper = pages.upper_bound(req.prefix)
    bound = None if upper is None else upper.encode()

    async def fetch(position: Position, limit: int) -> list[Row]:
        return await UPLOAD_SEEKS.fetch(conn, req.bucket, bound, position, limit)

    walker = Walker(
        start=start,
        after=_upload_after,
        prefix=req.prefix,
        delimiter=req.delimiter,
        marker=req.key_marker,
        max_items=req.max_uploads,
    )
    await drive(walker, fetch, _upload_after)
    return pages.upload_list(walker.page)
