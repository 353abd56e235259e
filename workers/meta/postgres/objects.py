"""Object operations on PostgreSQL: commit (conditional write, blob references and the new
version in one transaction holding the key's lock), lookup by key or version, and deletes
under every versioning state (versions.py writes and removes the rows)."""

from __future__ import annotations

from protocol.errors import RemoteError
from protocol.meta import BucketInfo, CommitObject, ObjectDeleted, ObjectInfo, ObjectsDeleted
from workers.meta import engine_rules, ids, records, rules
from workers.meta.blob_refs import tally
from workers.meta.engine_rules import Refused, no_such_key
from workers.meta.ids import NULL_VERSION, Clock
from workers.meta.postgres import blobs, buckets, versions
from workers.meta.postgres.db import Conn
from workers.meta.records import Content


async def owner_name(conn: Conn, principal: str | None, bucket: BucketInfo) -> str:
    if not principal:
        return ""
    if principal == bucket.owner_id:
        return bucket.owner_name
    name = await conn.fetchval("SELECT name FROM users WHERE id = $1", principal)
    return "" if name is None else str(name)


# Everything a commit decides on, in one round trip: the bucket (share-locked), the
# principal's name, the key's latest and null versions, and the referenced blob rows
# (share-locked, see blobs.py).
_COMMIT_READ = (
    "SELECT (" + buckets.bucket_row("$1", share=True) + "),"
    " (SELECT name FROM users WHERE id = $3),"
    " (SELECT array_agg(ROW(k.*)) FROM ("
    + versions.KEY_ROWS.format(bucket="$1", key="$2")
    + ") k),"
    " (SELECT array_agg(ROW(l.*)) FROM (" + blobs.LOCK_ROWS.format(param="$4") + ") l)"
)


async def commit(
    conn: Conn, base: str, req: CommitObject, now: float, clock: Clock
) -> ObjectInfo | Refused:
    """Check everything, then write; the caller holds the key's lock and the locks of the
    request's blobs. A refusal happens before any write and is returned (not raised)
    together with the request's uploaded blobs registered as orphans, so a refused PUT does
    not leak its files."""
    wanted = tally(req.blobs)
    read = await conn.fetchrow(
        _COMMIT_READ, req.bucket, req.key.encode(), req.principal, sorted(wanted)
    )
    assert read is not None  # a SELECT without FROM returns one row
    try:
        engine_rules.check_commit_request(req)
        bucket = buckets.authorized(read[0], req.bucket, req.principal, "write")
        state = versions.key_state_of(read[2] or [])
        rules.check_write_conditions(req.key, req.if_none_match, req.if_match, state.latest)
        plan = await blobs.plan_references(base, wanted, read[3] or [])
    except RemoteError as exc:
        await blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    content = Content.of_commit(req)
    owner_id = req.principal or ""
    version_id = await versions.write(
        conn,
        bucket=req.bucket,
        versioning=bucket.versioning,
        key=req.key,
        state=state,
        content=content,
        plan=plan,
        owner_id=owner_id,
        now=now,
        stamp=versions.next_stamp(clock, state),
    )
    name = bucket.owner_name if owner_id == bucket.owner_id else str(read[1] or "")
    return records.committed_info(
        bucket,
        req.key,
        content,
        version_id=version_id,
        now=now,
        owner_id=owner_id,
        owner_name=name if owner_id else "",
    )


# A GET/HEAD in one round trip: the bucket and the version asked for (latest or by id).
_GET_INFO = (
    "SELECT (" + buckets.bucket_row("$1", share=False) + "),"
    f" (SELECT ROW({versions.COLUMNS}){versions.FROM}"
    " WHERE o.bucket = $1 AND o.key = $2 AND {which})"
)
_GET_LATEST = _GET_INFO.format(which="o.is_latest")
_GET_VERSION = _GET_INFO.format(which="o.version_id = $3")


async def get_info(
    conn: Conn, principal: str | None, bucket: str, key: str, version_id: str | None
) -> ObjectInfo:
    if version_id is None:
        read = await conn.fetchrow(_GET_LATEST, bucket, key.encode())
    else:
        read = await conn.fetchrow(_GET_VERSION, bucket, key.encode(), version_id)
    assert read is not None  # a SELECT without FROM returns one row
    info = buckets.authorized(read[0], bucket, principal, "read")
    row = None if read[1] is None else versions.decoded(read[1])
    if version_id is None:
        if row is None:
            raise no_such_key(key)
        if row[2]:
            raise engine_rules.deleted_latest(key, str(row[1]))
        return records.object_info(bucket, info.versioning, row)
    ids.check_version_id(version_id)
    if row is None:
        raise engine_rules.no_such_version()
    if row[2]:
        raise engine_rules.marker_not_allowed(str(row[1]), float(row[5]))
    return records.object_info(bucket, info.versioning, row)


async def _delete_one(
    conn: Conn,
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
        _, marker = await versions.remove(conn, bucket.name, key, version_id, now)
        return ObjectDeleted(key=key, version_id=version_id, delete_marker=marker)
    if not bucket.versioning:
        await versions.remove(conn, bucket.name, key, NULL_VERSION, now)
        return ObjectDeleted(key=key)
    # Enabled: a new marker on top; Suspended: a "null" marker replacing the null version.
    state = await versions.key_state(conn, bucket.name, key)
    marker_id = await versions.write(
        conn,
        bucket=bucket.name,
        versioning=bucket.versioning,
        key=key,
        state=state,
        content=None,
        plan=[],
        owner_id=principal or "",
        now=now,
        stamp=versions.next_stamp(clock, state),
    )
    return ObjectDeleted(key=key, version_id=marker_id, delete_marker=True)


async def delete(
    conn: Conn,
    *,
    principal: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
    now: float,
    clock: Clock,
) -> ObjectDeleted:
    """The caller holds the key's lock."""
    # Deleting a specific version is s3:DeleteObjectVersion: with ACLs, the bucket owner's.
    need: rules.Access = "write" if version_id is None else "owner"
    info = await buckets.authorize(conn, principal, bucket, need, "share")
    if version_id is not None:
        ids.check_version_id(version_id)
    return await _delete_one(conn, principal, info, key, version_id, now=now, clock=clock)


async def delete_many(
    conn: Conn,
    principal: str | None,
    bucket: str,
    keys: list[str],
    version_ids: list[str | None],
    *,
    now: float,
    clock: Clock,
) -> ObjectsDeleted:
    """The caller checked the request (engine_rules.check_delete_request) and holds the
    lock of every key."""
    info = await buckets.fetch(conn, bucket, "share")
    if info is None:
        raise engine_rules.no_such_bucket(bucket)
    result = ObjectsDeleted()
    for key, version_id in zip(keys, version_ids or [None] * len(keys), strict=True):
        refusal = engine_rules.delete_refusal(info, principal, key, version_id)
        if refusal is not None:
            result.errors.append(refusal)
        else:
            result.deleted.append(
                await _delete_one(conn, principal, info, key, version_id, now=now, clock=clock)
            )
    return result
