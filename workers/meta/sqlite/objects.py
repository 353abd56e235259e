"""Object operations on a SQLite connection: commit (with conditional writes and blob
refcounts in the same transaction), lookup by key or version, and deletes under every
versioning state (see versions.py for how versions are written and removed)."""

from __future__ import annotations

import sqlite3

from protocol.errors import RemoteError
from protocol.meta import (
    BucketInfo,
    CommitObject,
    ObjectDeleted,
    ObjectInfo,
    ObjectsDeleted,
)
from workers.meta import engine_rules, ids, records, rules
from workers.meta.blob_refs import tally
from workers.meta.engine_rules import Refused, no_such_key
from workers.meta.ids import NULL_VERSION, Clock
from workers.meta.records import Content
from workers.meta.sqlite import blobs, buckets, versions


def owner_name(conn: sqlite3.Connection, principal: str | None, bucket: BucketInfo) -> str:
    if not principal:
        return ""
    if principal == bucket.owner_id:
        return bucket.owner_name
    row = conn.execute("SELECT name FROM users WHERE id = ?", (principal,)).fetchone()
    return "" if row is None else str(row[0])


def commit(
    conn: sqlite3.Connection, base: str, req: CommitObject, now: float, clock: Clock
) -> ObjectInfo | Refused:
    """Check everything, then write. A refusal happens before any write and is returned
    (not raised) together with the request's uploaded blobs registered as orphans, so a
    refused PUT does not leak its files."""
    for ref in req.blobs:
        rules.check_digest(ref.sha256)  # before anything builds a path from it
    wanted = tally(req.blobs)
    try:
        engine_rules.check_commit_request(req)
        bucket = buckets.authorize(conn, req.principal, req.bucket, "write")
        current = versions.latest_state(conn, req.bucket, req.key)
        rules.check_write_conditions(req.key, req.if_none_match, req.if_match, current)
        plan = blobs.plan_references(conn, base, wanted)
    except RemoteError as exc:
        blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    # New references first: an overwrite with the same content never drops a blob to zero.
    blobs.apply_references(conn, plan)
    content = Content.of_commit(req)
    owner_id = req.principal or ""
    version_id = versions.write(
        conn,
        bucket=req.bucket,
        versioning=bucket.versioning,
        key=req.key,
        content=content,
        owner_id=owner_id,
        now=now,
        stamp=clock.next(),
    )
    return records.committed_info(
        bucket,
        req.key,
        content,
        version_id=version_id,
        now=now,
        owner_id=owner_id,
        owner_name=owner_name(conn, req.principal, bucket),
    )


def get_info(
    conn: sqlite3.Connection,
    principal: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
) -> ObjectInfo:
    info = buckets.authorize(conn, principal, bucket, "read")
    if version_id is None:
        row = versions.latest(conn, bucket, key)
        if row is None:
            raise no_such_key(key)
        if row[2]:
            raise engine_rules.deleted_latest(key, str(row[1]))
        return records.object_info(bucket, info.versioning, row)
    ids.check_version_id(version_id)
    row = versions.by_id(conn, bucket, key, version_id)
    if row is None:
        raise engine_rules.no_such_version()
    if row[2]:
        raise engine_rules.marker_not_allowed(str(row[1]), float(row[5]))
    return records.object_info(bucket, info.versioning, row)


def _delete_one(
    conn: sqlite3.Connection,
    principal: str | None,
    bucket: BucketInfo,
    key: str,
    version_id: str | None,
    *,
    now: float,
    clock: Clock,
) -> ObjectDeleted:
    if version_id is not None:
        # Deleting a version that does not exist succeeds and echoes the id, as on AWS.
        _, marker = versions.remove(conn, bucket.name, key, version_id, now)
        return ObjectDeleted(key=key, version_id=version_id, delete_marker=marker)
    if not bucket.versioning:
        versions.remove(conn, bucket.name, key, NULL_VERSION, now)
        return ObjectDeleted(key=key)
    # Enabled: a new marker on top; Suspended: a "null" marker replacing the null version.
    marker_id = versions.write(
        conn,
        bucket=bucket.name,
        versioning=bucket.versioning,
        key=key,
        content=None,
        owner_id=principal or "",
        now=now,
        stamp=clock.next(),
    )
    return ObjectDeleted(key=key, version_id=marker_id, delete_marker=True)


def delete(
    conn: sqlite3.Connection,
    *,
    principal: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
    now: float,
    clock: Clock,
) -> ObjectDeleted:
    # Deleting a specific version is s3:DeleteObjectVersion: with ACLs, the bucket owner's.
    info = buckets.authorize(conn, principal, bucket, "write" if version_id is None else "owner")
    if version_id is not None:
        ids.check_version_id(version_id)
    return _delete_one(conn, principal, info, key, version_id, now=now, clock=clock)


def delete_many(
    conn: sqlite3.Connection,
    principal: str | None,
    bucket: str,
    keys: list[str],
    version_ids: list[str | None],
    *,
    now: float,
    clock: Clock,
) -> ObjectsDeleted:
    engine_rules.check_delete_request(keys, version_ids)
    info = buckets.fetch(conn, bucket)
    if info is None:
        raise engine_rules.no_such_bucket(bucket)
    result = ObjectsDeleted()
    for key, version_id in zip(keys, version_ids or [None] * len(keys), strict=True):
        refusal = engine_rules.delete_refusal(info, principal, key, version_id)
        if refusal is not None:
            result.errors.append(refusal)
        else:
            result.deleted.append(
                _delete_one(conn, principal, info, key, version_id, now=now, clock=clock)
            )
    return result
