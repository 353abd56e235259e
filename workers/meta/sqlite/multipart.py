"""Multipart uploads on SQLite: create, register parts (each part row holds one blob
reference), list parts, abort, and the bulk removals of bucket deletion and GC expiry.
Completion lives in complete.py, the upload listing in upload_listing.py."""

from __future__ import annotations

import sqlite3

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
from workers.meta.records import UPLOAD_COLUMNS, Upload, decode_map, text
from workers.meta.rules import error
from workers.meta.sqlite import blobs, buckets
from workers.meta.upload_rules import StoredPart


def find(conn: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> Upload | None:
    """The upload (in progress or completed) if it belongs to this bucket and key."""
    row = conn.execute(
        f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
        (upload_id, bucket, key),
    ).fetchone()
    return None if row is None else records.upload(row)


def pending(conn: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> Upload:
    upload = find(conn, bucket, key, upload_id)
    if upload is None or upload.completed_at is not None:
        raise no_such_upload(upload_id)
    return upload


def stored_parts(conn: sqlite3.Connection, upload_id: str) -> dict[int, StoredPart]:
    rows = conn.execute(
        "SELECT part_number, sha256, size, md5, checksums FROM parts WHERE upload_id = ?",
        (upload_id,),
    )
    return {
        number: StoredPart(number, sha256, size, md5, decode_map(sums))
        for number, sha256, size, md5, sums in rows
    }


def release_parts(conn: sqlite3.Connection, upload_ids: list[str], now: float) -> None:
    """Give back every part reference of these uploads and forget their parts."""
    for upload_id in upload_ids:
        rows = conn.execute(
            "DELETE FROM parts WHERE upload_id = ? RETURNING sha256, size", (upload_id,)
        ).fetchall()
        blobs.release(conn, blob_refs.held(rows), now)


def create(
    conn: sqlite3.Connection, req: CreateMultipartUpload, now: float, clock: Clock
) -> UploadCreated:
    rules.check_key(req.key)
    buckets.authorize(conn, req.principal, req.bucket, "write")
    algorithm, kind = checksums.upload_settings(req.checksum_algorithm, req.checksum_type)
    upload_id = new_upload_id(clock.next())
    conn.execute(
        "INSERT INTO uploads (upload_id, bucket, key, initiated, owner_id, headers, user_meta,"
        " storage_class, checksum_algorithm, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            upload_id,
            req.bucket,
            req.key,
            round(now, 3),
            req.principal or "",
            text(req.headers),
            text(req.user_meta),
            req.storage_class or "STANDARD",
            algorithm,
            kind,
        ),
    )
    return UploadCreated(upload_id=upload_id)


def register(
    conn: sqlite3.Connection, base: str, req: RegisterPart, now: float
) -> PartRegistered | Refused:
    """Record a part, taking a reference on its blob (with commit_object's revival check)
    and giving back the reference of the part it replaces. A refusal registers the
    uploaded blob as an orphan so GC collects its file."""
    rules.check_digest(req.blob.sha256)
    wanted = blob_refs.tally([req.blob])
    try:
        upload_rules.check_part_number(req.part_number)
        upload_rules.check_md5(req.blob.md5)
        if req.blob.size < 0:
            raise error("InvalidArgument", f"blob {req.blob.sha256} has a negative size")
        buckets.authorize(conn, req.principal, req.bucket, "write")
        pending(conn, req.bucket, req.key, req.upload_id)
        plan = blobs.plan_references(conn, base, wanted)
    except RemoteError as exc:
        blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    blobs.apply_references(conn, plan)
    old = conn.execute(
        "DELETE FROM parts WHERE upload_id = ? AND part_number = ? RETURNING sha256, size",
        (req.upload_id, req.part_number),
    ).fetchone()
    if old is not None:
        blobs.release(conn, {old[0]: (old[1], 1)}, now)
    conn.execute(
        "INSERT INTO parts (upload_id, part_number, sha256, size, md5, checksums, last_modified)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            req.upload_id,
            req.part_number,
            req.blob.sha256,
            req.blob.size,
            req.blob.md5,
            text({name.lower(): value for name, value in req.checksums.items()}),
            round(now, 3),
        ),
    )
    return PartRegistered(etag=req.blob.md5)


def list_parts(conn: sqlite3.Connection, req: ListParts) -> PartList:
    engine_rules.check_list_parts(req)
    conn.execute("BEGIN")  # the upload and its parts from one snapshot
    try:
        buckets.authorize(conn, req.principal, req.bucket, "write")
        upload = pending(conn, req.bucket, req.key, req.upload_id)
        rows = conn.execute(
            "SELECT part_number, md5, size, last_modified, checksums FROM parts"
            " WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (req.upload_id, req.part_number_marker, req.max_parts + 1),
        ).fetchall()
        owner = conn.execute("SELECT name FROM users WHERE id = ?", (upload.owner_id,)).fetchone()
    finally:
        conn.execute("COMMIT")
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
        owner_name="" if owner is None else str(owner[0]),
        storage_class=upload.storage_class,
        checksum_algorithm=upload.checksum_algorithm,
        checksum_type=upload.checksum_type,
    )


def abort(
    conn: sqlite3.Connection,
    *,
    principal: str | None,
    bucket: str,
    key: str,
    upload_id: str,
    now: float,
) -> None:
    buckets.authorize(conn, principal, bucket, "write")
    pending(conn, bucket, key, upload_id)
    release_parts(conn, [upload_id], now)
    conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))


def purge_bucket(conn: sqlite3.Connection, bucket: str, now: float) -> None:
    """Abort every upload of a bucket being deleted (AWS deletes a bucket that still has
    uploads in progress) and drop its completed-upload records."""
    ids = [
        row[0] for row in conn.execute("SELECT upload_id FROM uploads WHERE bucket = ?", (bucket,))
    ]
    release_parts(conn, ids, now)
    conn.execute("DELETE FROM uploads WHERE bucket = ?", (bucket,))


def expire(
    conn: sqlite3.Connection,
    initiated_before: float,
    completed_before: float,
    limit: int,
    now: float,
) -> int:
    """Abort up to `limit` uploads initiated at or before `initiated_before` and forget up to
    `limit` completion records older than `completed_before`. Returns the uploads aborted."""
    stale = [
        row[0]
        for row in conn.execute(
            "SELECT upload_id FROM uploads WHERE completed_at IS NULL AND initiated <= ?"
            " ORDER BY initiated LIMIT ?",
            (initiated_before, limit),
        )
    ]
    release_parts(conn, stale, now)
    conn.executemany("DELETE FROM uploads WHERE upload_id = ?", [(uid,) for uid in stale])
    conn.execute(
        "DELETE FROM uploads WHERE upload_id IN (SELECT upload_id FROM uploads"
        " WHERE completed_at IS NOT NULL AND completed_at <= ? ORDER BY completed_at LIMIT ?)",
        (completed_before, limit),
    )
    return len(stale)
