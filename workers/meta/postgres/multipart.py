"""Multipart uploads on PostgreSQL: create, register parts (each part row holds one blob
reference), list parts, abort, and the bulk removals of bucket deletion and GC expiry.

Whoever changes an upload's parts or state (register, complete, abort, expiry, bucket
deletion) first locks the upload's row FOR UPDATE, so those never interleave across nodes:
parts of one upload are registered one after the other, and an abort cannot give back the
references a concurrent completion is handing to the new object."""

from __future__ import annotations

from protocol.errors import RemoteError
from protocol.meta import (
    CreateMultipartUpload,
    ListParts,
    PartList,
    PartRegistered,
    PartSummary,
    RegisterPart,
    UploadCreated,
)
from workers.meta import blob_refs, checksums, engine_rules, records, rules, upload_rules
from workers.meta.engine_rules import Refused, no_such_upload
from workers.meta.ids import Clock, new_upload_id
from workers.meta.postgres import blobs, buckets
from workers.meta.postgres.db import Conn
from workers.meta.records import UPLOAD_COLUMNS, Upload, decode_map, text
from workers.meta.rules import error
from workers.meta.upload_rules import StoredPart


async def find(
    conn: Conn, bucket: str, key: str, upload_id: str, *, lock: bool = False
) -> Upload | None:
    """The upload (in progress or completed) if it belongs to this bucket and key."""
    row = await conn.fetchrow(
        f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1 AND bucket = $2"
        " AND key = $3" + (" FOR UPDATE" if lock else ""),
        upload_id,
        bucket,
        key.encode(),
    )
    if row is None:
        return None
    values = list(row)
    values[2] = key
    return records.upload(tuple(values))


async def pending(
    conn: Conn, bucket: str, key: str, upload_id: str, *, lock: bool = False
) -> Upload:
    upload = await find(conn, bucket, key, upload_id, lock=lock)
    if upload is None or upload.completed_at is not None:
        raise no_such_upload(upload_id)
    return upload


async def stored_parts(conn: Conn, upload_id: str) -> dict[int, StoredPart]:
    rows = await conn.fetch(
        "SELECT part_number, sha256, size, md5, checksums FROM parts WHERE upload_id = $1",
        upload_id,
    )
    return {
        number: StoredPart(number, sha256, size, md5, decode_map(sums))
        for number, sha256, size, md5, sums in rows
    }


async def release_parts(conn: Conn, upload_ids: list[str], now: float) -> None:
    """Give back every part reference of these uploads and forget their parts."""
    if not upload_ids:
        return
    rows = await conn.fetch(
        "DELETE FROM parts WHERE upload_id = ANY($1::text[]) RETURNING sha256, size", upload_ids
    )
    held = blob_refs.held((str(sha), int(size)) for sha, size in rows)
    await blobs.apply(conn, blobs.Change.of([], held), now)


async def create(conn: Conn, req: CreateMultipartUpload, now: float, clock: Clock) -> UploadCreated:
    rules.check_key(req.key)
    await buckets.authorize(conn, req.principal, req.bucket, "write", "share")
    algorithm, kind = checksums.upload_settings(req.checksum_algorithm, req.checksum_type)
    upload_id = new_upload_id(clock.next())
    await conn.execute(
        "INSERT INTO uploads (upload_id, bucket, key, initiated, owner_id, headers, user_meta,"
        " storage_class, checksum_algorithm, checksum_type)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        upload_id,
        req.bucket,
        req.key.encode(),
        round(now, 3),
        req.principal or "",
        text(req.headers),
        text(req.user_meta),
        req.storage_class or "STANDARD",
        algorithm,
        kind,
    )
    return UploadCreated(upload_id=upload_id)


async def register(
    conn: Conn, base: str, req: RegisterPart, now: float
) -> PartRegistered | Refused:
    """Record a part, taking a reference on its blob (with commit_object's revival check)
    and giving back the reference of the part it replaces. The caller holds the blob's
    lock. A refusal registers the uploaded blob as an orphan so GC collects its file."""
    wanted = blob_refs.tally([req.blob])
    try:
        upload_rules.check_part_number(req.part_number)
        upload_rules.check_md5(req.blob.md5)
        if req.blob.size < 0:
            raise error("InvalidArgument", f"blob {req.blob.sha256} has a negative size")
        await buckets.authorize(conn, req.principal, req.bucket, "write", "share")
        await pending(conn, req.bucket, req.key, req.upload_id, lock=True)
        known = await blobs.lock_rows(conn, list(wanted))
        plan = await blobs.plan_references(base, wanted, known)
    except RemoteError as exc:
        await blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    old = await conn.fetchrow(
        "DELETE FROM parts WHERE upload_id = $1 AND part_number = $2 RETURNING sha256, size",
        req.upload_id,
        req.part_number,
    )
    released = {} if old is None else {str(old[0]): (int(old[1]), 1)}
    await conn.execute(
        f"WITH {blobs.ctes(8)} INSERT INTO parts (upload_id, part_number, sha256, size, md5,"
        " checksums, last_modified) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        req.upload_id,
        req.part_number,
        req.blob.sha256,
        req.blob.size,
        req.blob.md5,
        text({name.lower(): value for name, value in req.checksums.items()}),
        round(now, 3),
        *blobs.Change.of(plan, released).args(now),
    )
    return PartRegistered(etag=req.blob.md5)


async def list_parts(conn: Conn, req: ListParts) -> PartList:
    """In a read transaction: the upload and its parts come from one snapshot."""
    engine_rules.check_list_parts(req)
    await buckets.authorize(conn, req.principal, req.bucket, "write")
    upload = await pending(conn, req.bucket, req.key, req.upload_id)
    rows = await conn.fetch(
        "SELECT part_number, md5, size, last_modified, checksums FROM parts"
        " WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        req.upload_id,
        req.part_number_marker,
        req.max_parts + 1,
    )
    owner = await conn.fetchval("SELECT name FROM users WHERE id = $1", upload.owner_id)
    parts = [
        PartSummary(
            part_number=number,
            etag=md5,
            size=size,
            last_modified=modified,
            checksums=decode_map(sums),
        )
        for number, md5, size, modified, sums in rows[: req.max_parts]
    ]
    return PartList(
        parts=parts,
        is_truncated=len(rows) > req.max_parts,
        next_part_number_marker=parts[-1].part_number if parts else 0,
        owner_id=upload.owner_id,
        owner_name="" if owner is None else str(owner),
        storage_class=upload.storage_class,
        checksum_algorithm=upload.checksum_algorithm,
        checksum_type=upload.checksum_type,
    )


async def abort(
    conn: Conn, *, principal: str | None, bucket: str, key: str, upload_id: str, now: float
) -> None:
    await buckets.authorize(conn, principal, bucket, "write", "share")
    await pending(conn, bucket, key, upload_id, lock=True)
    await release_parts(conn, [upload_id], now)
    await conn.execute("DELETE FROM uploads WHERE upload_id = $1", upload_id)


async def purge_bucket(conn: Conn, bucket: str, now: float) -> None:
    """Abort every upload of a bucket being deleted (AWS deletes a bucket that still has
    uploads in progress) and drop its completed-upload records. The caller holds the bucket
    row FOR UPDATE, so no upload can be created in it meanwhile."""
    rows = await conn.fetch(
        "SELECT upload_id FROM uploads WHERE bucket = $1 ORDER BY upload_id FOR UPDATE", bucket
    )
    await release_parts(conn, [str(row[0]) for row in rows], now)
    await conn.execute("DELETE FROM uploads WHERE bucket = $1", bucket)


async def expire(
    conn: Conn, initiated_before: float, completed_before: float, limit: int, now: float
) -> int:
    """Abort up to `limit` uploads initiated at or before `initiated_before` and forget up to
    `limit` completion records older than `completed_before`. Returns the uploads aborted.
    Uploads another transaction holds (a part being registered) wait for the next pass."""
    rows = await conn.fetch(
        "SELECT upload_id FROM uploads WHERE completed_at IS NULL AND initiated <= $1"
        " ORDER BY initiated LIMIT $2 FOR UPDATE SKIP LOCKED",
        initiated_before,
        limit,
    )
    stale = [str(row[0]) for row in rows]
    await release_parts(conn, stale, now)
    if stale:
        await conn.execute("DELETE FROM uploads WHERE upload_id = ANY($1::text[])", stale)
    await conn.execute(
        "DELETE FROM uploads WHERE upload_id IN (SELECT upload_id FROM uploads"
        " WHERE completed_at IS NOT NULL AND completed_at <= $1 ORDER BY completed_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED)",
        completed_before,
        limit,
    )
    return len(stale)
