"""CompleteMultipartUpload on SQLite, in one write transaction: check the part list, check
the conditional write against the key's latest version, write the object version whose
blobs are the chosen parts' blobs (no byte copied), give back the upload's part references
(parts left out become orphans for GC) and keep the result, so that a retried completion
with the same part list gets the same ObjectInfo back, as on AWS."""

from __future__ import annotations

import sqlite3

from protocol.meta import BlobRef, CompleteMultipartUpload, ObjectInfo
from workers.meta import engine_rules, records, rules, upload_rules
from workers.meta.blob_refs import tally
from workers.meta.ids import Clock
from workers.meta.records import Content
from workers.meta.sqlite import blobs, buckets, multipart, objects, versions


def complete(
    conn: sqlite3.Connection, base: str, req: CompleteMultipartUpload, now: float, clock: Clock
) -> ObjectInfo:
    upload_rules.check_part_list(req.parts)
    bucket = buckets.authorize(conn, req.principal, req.bucket, "write")
    upload = multipart.find(conn, req.bucket, req.key, req.upload_id)
    if upload is None:
        raise engine_rules.no_such_upload(req.upload_id)
    if upload.completed_at is not None:
        return engine_rules.repeated_completion(upload, req)
    chosen = upload_rules.choose_parts(req.parts, multipart.stored_parts(conn, req.upload_id))
    sums = upload_rules.object_checksums(
        upload.checksum_algorithm, upload.checksum_type, req.parts, chosen
    )
    current = versions.latest_state(conn, req.bucket, req.key)
    rules.check_write_conditions(req.key, req.if_none_match, req.if_match, current)

    refs = [BlobRef(sha256=part.sha256, size=part.size, md5=part.md5) for part in chosen]
    # The parts hold references on these blobs, so no revival (and no disk check) happens.
    blobs.apply_references(conn, blobs.plan_references(conn, base, tally(refs)))
    content = Content.of_parts(
        refs,
        sum(part.size for part in chosen),
        upload_rules.multipart_etag([part.md5 for part in chosen]),
        upload,
        sums,
    )
    version_id = versions.write(
        conn,
        bucket=req.bucket,
        versioning=bucket.versioning,
        key=req.key,
        content=content,
        owner_id=upload.owner_id,
        now=now,
        stamp=clock.next(),
    )
    multipart.release_parts(conn, [req.upload_id], now)
    owner_name = objects.owner_name(conn, upload.owner_id, bucket)
    info = records.committed_info(
        bucket,
        req.key,
        content,
        version_id=version_id,
        now=now,
        owner_id=upload.owner_id,
        owner_name=owner_name,
    )
    conn.execute(
        "UPDATE uploads SET completed_at = ?, completed_parts = ?, result = ? WHERE upload_id = ?",
        (now, records.text(engine_rules.completion_parts(req)), records.text(info), req.upload_id),
    )
    return info
