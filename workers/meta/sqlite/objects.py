"""Object operations on a SQLite connection: commit (with conditional writes and blob
refcounts in the same transaction), lookup by key or version, and deletes under every
versioning state (see versions.py for how versions are written and removed)."""

from __future__ import annotations

import sqlite3
from email.utils import formatdate

from protocol.errors import RemoteError
from protocol.meta import (
    BucketInfo,
    CommitObject,
    DeleteFailure,
    ObjectDeleted,
    ObjectInfo,
    ObjectsDeleted,
)
from workers.meta import ids, rules
from workers.meta.ids import NULL_VERSION, Clock
from workers.meta.rules import error
from workers.meta.sqlite import blobs, buckets, versions
from workers.meta.sqlite.writer import Refused
from workers.meta.store import MAX_DELETE_KEYS


def no_such_key(key: str) -> RemoteError:
    return error("NoSuchKey", f"The specified key does not exist: {key}")


def _check_request(req: CommitObject) -> None:
    rules.check_key(req.key)
    for ref in req.blobs:
        if ref.size < 0:
            raise error("InvalidArgument", f"blob {ref.sha256} has a negative size")
    total = sum(ref.size for ref in req.blobs)
    if total != req.size:
        raise error(
            "InvalidArgument",
            f"object size {req.size} differs from the sum of its blob sizes ({total})",
        )
    if not req.etag:
        raise error("InvalidArgument", "a committed object needs an ETag")


def owner_name(conn: sqlite3.Connection, principal: str | None, bucket: BucketInfo) -> str:
    if not principal:
        return ""
    if principal == bucket.owner_id:
        return bucket.owner_name
    row = conn.execute("SELECT name FROM users WHERE id = ?", (principal,)).fetchone()
    return "" if row is None else str(row[0])


def wire_version(bucket: BucketInfo, version_id: str) -> str | None:
    """The version id a reply carries: none at all in a never-versioned bucket."""
    return version_id if bucket.versioning else None


def commit(
    conn: sqlite3.Connection, base: str, req: CommitObject, now: float, clock: Clock
) -> ObjectInfo | Refused:
    """Check everything, then write. A refusal happens before any write and is returned
    (not raised) together with the request's uploaded blobs registered as orphans, so a
    refused PUT does not leak its files."""
    for ref in req.blobs:
        rules.check_digest(ref.sha256)  # before anything builds a path from it
    wanted = blobs.tally(req.blobs)
    try:
        _check_request(req)
        bucket = buckets.authorize(conn, req.principal, req.bucket, "write")
        current = versions.latest_state(conn, req.bucket, req.key)
        rules.check_write_conditions(req.key, req.if_none_match, req.if_match, current)
        plan = blobs.plan_references(conn, base, wanted)
    except RemoteError as exc:
        blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    # New references first: an overwrite with the same content never drops a blob to zero.
    blobs.apply_references(conn, plan)
    content = versions.Content(
        size=req.size,
        etag=req.etag.strip('"'),
        blobs=list(req.blobs),
        headers=dict(req.headers),
        user_meta=dict(req.user_meta),
        checksums=dict(req.checksums),
        storage_class=req.storage_class or "STANDARD",
    )
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
    return ObjectInfo(
        bucket=req.bucket,
        key=req.key,
        size=content.size,
        etag=content.etag,
        last_modified=round(now, 3),
        blobs=content.blobs,
        headers=content.headers,
        user_meta=content.user_meta,
        checksums=content.checksums,
        storage_class=content.storage_class,
        version_id=wire_version(bucket, version_id),
        owner_id=owner_id,
        owner_name=owner_name(conn, req.principal, bucket),
    )


def _marker_details(row: versions.Row, with_date: bool) -> dict[str, str]:
    details = {"header:x-amz-delete-marker": "true", "header:x-amz-version-id": str(row[1])}
    if with_date:
        details["header:Last-Modified"] = formatdate(float(row[5]), usegmt=True)
    return details


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
            raise RemoteError(
                f"The specified key does not exist: {key}",
                _marker_details(row, with_date=False),
                code="NoSuchKey",
            )
        return versions.info(bucket, info.versioning, row)
    ids.check_version_id(version_id)
    row = versions.by_id(conn, bucket, key, version_id)
    if row is None:
        raise error("NoSuchVersion", "The specified version does not exist.")
    if row[2]:
        raise RemoteError(
            "The specified method is not allowed against this resource.",
            _marker_details(row, with_date=True),
            code="MethodNotAllowed",
        )
    return versions.info(bucket, info.versioning, row)


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
    if not keys:
        raise error("MalformedXML", "A Delete request must name at least one key.")
    if len(keys) > MAX_DELETE_KEYS:
        raise error("MalformedXML", f"A Delete request may name at most {MAX_DELETE_KEYS} keys.")
    if version_ids and len(version_ids) != len(keys):
        raise error(
            "InvalidArgument",
            f"version_ids names {len(version_ids)} versions for {len(keys)} keys",
        )
    info = buckets.fetch(conn, bucket)
    if info is None:
        raise buckets.no_such_bucket(bucket)
    result = ObjectsDeleted()
    for key, version_id in zip(keys, version_ids or [None] * len(keys), strict=True):
        need: rules.Access = "write" if version_id is None else "owner"
        if not rules.allowed(info.owner_id, info.acl, principal, need):
            result.errors.append(
                DeleteFailure(key=key, code="AccessDenied", message="Access Denied")
            )
        elif version_id is not None and not ids.is_version_id(version_id):
            # DeleteObjects reports a malformed id per key, unlike DeleteObject's 400.
            result.errors.append(
                DeleteFailure(
                    key=key, code="NoSuchVersion", message="The specified version does not exist."
                )
            )
        else:
            result.deleted.append(
                _delete_one(conn, principal, info, key, version_id, now=now, clock=clock)
            )
    return result
