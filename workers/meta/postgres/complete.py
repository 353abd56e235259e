"""CompleteMultipartUpload on PostgreSQL, in one write transaction holding the key's lock and
the upload's row lock: check the part list, check the conditional write against the key's
latest version, write the version whose blobs are the chosen parts' blobs (no byte copied),
give back the upload's part references (parts left out become orphans for GC) and keep the
result, so that a retried completion with the same part list gets the same ObjectInfo."""

from __future__ import annotations

from protocol.meta import BlobRef, CompleteMultipartUpload, ObjectInfo
from workers.meta import blob_refs, engine_rules, records, rules, upload_rules
from workers.meta.ids import Clock
from workers.meta.postgres import blobs, buckets, multipart, objects, versions
from workers.meta.postgres.db import Conn
from workers.meta.records import Content


async def complete(
    conn: Conn, base: str, req: CompleteMultipartUpload, now: float, clock: Clock
) -> ObjectInfo:
    upload_rules.check_part_list(req.parts)
    bucket = await buckets.authorize(conn, req.principal, req.bucket, "write", "share")
    upload = await multipart.find(conn, req.bucket, req.key, req.upload_id, lock=True)
    if upload is None:
        raise engine_rules.no_such_upload(req.upload_id)
    if upload.completed_at is not None:
        return engine_rules.repeated_completion(upload, req)
    stored = await multipart.stored_parts(conn, req.upload_id)
    chosen = upload_rules.choose_parts(req.parts, stored)
    sums = upload_rules.object_checksums(
        upload.checksum_algorithm, upload.checksum_type, req.parts, chosen
    )
    state = await versions.key_state(conn, req.bucket, req.key)
    rules.check_write_conditions(req.key, req.if_none_match, req.if_match, state.latest)

    refs = [BlobRef(sha256=part.sha256, size=part.size, md5=part.md5) for part in chosen]
    # The parts hold references on these blobs, so no revival (and no disk check) happens.
    wanted = blob_refs.tally(refs)
    plan = await blobs.plan_references(base, wanted, await blobs.lock_rows(conn, list(wanted)))
    content = Content.of_parts(
        refs,
        sum(part.size for part in chosen),
        upload_rules.multipart_etag([part.md5 for part in chosen]),
        upload,
        sums,
    )
    # Every part's reference goes back in the same refcount statement as the object takes
    # its own: a chosen part's blob ends where it started, a left-out one may become orphan.
    parts_held = blob_refs.held((part.sha256, part.size) for part in stored.values())
    version_id = await versions.write(
        conn,
        bucket=req.bucket,
        versioning=bucket.versioning,
        key=req.key,
        state=state,
        content=content,
        plan=plan,
        owner_id=upload.owner_id,
        now=now,
        stamp=versions.next_stamp(clock, state),
        also_released=parts_held,
    )
    await conn.execute("DELETE FROM parts WHERE upload_id = $1", req.upload_id)
    info = records.committed_info(
        bucket,
        req.key,
        content,
        version_id=version_id,
        now=now,
        owner_id=upload.owner_id,
        owner_name=await objects.owner_name(conn, upload.owner_id, bucket),
    )
    await conn.execute(
        "UPDATE uploads SET completed_at = $2, completed_parts = $3, result = $4"
        " WHERE upload_id = $1",
        req.upload_id,
        now,
        records.text(engine_rules.completion_parts(req)),
        records.text(info),
    )
    return info
