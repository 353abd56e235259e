"""Object operations on a SQLite connection: commit (with conditional writes and blob
refcounts in the same transaction), lookup and deletes."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from protocol.errors import RemoteError
from protocol.meta import (
    BlobRef,
    BucketInfo,
    CommitObject,
    DeleteFailure,
    ObjectDeleted,
    ObjectInfo,
    ObjectsDeleted,
)
from workers.meta import rules
from workers.meta.rules import error
from workers.meta.sqlite import blobs, buckets
from workers.meta.sqlite.writer import Refused
from workers.meta.store import MAX_DELETE_KEYS

NULL_VERSION = "null"
_encode = msgspec.json.Encoder().encode
_decode_blobs = msgspec.json.Decoder(list[BlobRef]).decode
_decode_map = msgspec.json.Decoder(dict[str, str]).decode

_SELECT = (
    "SELECT o.key, o.version_id, o.delete_marker, o.size, o.etag, o.last_modified, o.blobs,"
    " o.headers, o.user_meta, o.checksums, o.storage_class, o.owner_id,"
    " COALESCE(u.name, ''), o.corrupt"
    " FROM objects o LEFT JOIN users u ON u.id = o.owner_id"
)


def _text(value: Any) -> str:
    return _encode(value).decode("utf-8")


def _info(bucket: str, versioning: str, row: tuple[Any, ...]) -> ObjectInfo:
    (key, version_id, marker, size, etag, modified, blob_list) = row[:7]
    (headers, user_meta, checksums, storage_class, owner_id, owner_name, corrupt) = row[7:]
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=size,
        etag=etag,
        last_modified=modified,
        blobs=_decode_blobs(blob_list),
        headers=_decode_map(headers),
        user_meta=_decode_map(user_meta),
        checksums=_decode_map(checksums),
        storage_class=storage_class,
        # A never-versioned bucket has no version ids on the wire, as on AWS.
        version_id=version_id if versioning else None,
        delete_marker=bool(marker),
        owner_id=owner_id,
        owner_name=owner_name,
        corrupt=bool(corrupt),
    )


def _current(conn: sqlite3.Connection, bucket: str, key: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        _SELECT + " WHERE o.bucket = ? AND o.key = ? AND o.is_latest = 1", (bucket, key)
    ).fetchone()
    return row


def _no_such_key(key: str) -> RemoteError:
    return error("NoSuchKey", f"The specified key does not exist: {key}")


def _check_conditions(req: CommitObject, current: tuple[Any, ...] | None) -> None:
    """`current` is (delete_marker, etag, blobs) of the key's current version, if any."""
    exists = current is not None and not current[0]
    if req.if_none_match is not None:
        if req.if_none_match.strip() != "*":
            raise error(
                "NotImplemented",
                "If-None-Match on a write accepts only '*' (create only if absent).",
            )
        if exists:
            raise error("PreconditionFailed", _PRECONDITION)
    if req.if_match is not None:
        if current is None or not exists:
            raise _no_such_key(req.key)
        if not rules.etag_matches(req.if_match, current[1]):
            raise error("PreconditionFailed", _PRECONDITION)


_PRECONDITION = "At least one of the pre-conditions you specified did not hold"


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


def _owner_name(conn: sqlite3.Connection, principal: str | None, bucket: BucketInfo) -> str:
    if principal is None:
        return ""
    if principal == bucket.owner_id:
        return bucket.owner_name
    row = conn.execute("SELECT name FROM users WHERE id = ?", (principal,)).fetchone()
    return "" if row is None else str(row[0])


def commit(
    conn: sqlite3.Connection, base: str, req: CommitObject, now: float
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
        current: tuple[Any, ...] | None = conn.execute(
            "SELECT delete_marker, etag, blobs FROM objects"
            " WHERE bucket = ? AND key = ? AND version_id = ?",
            (req.bucket, req.key, NULL_VERSION),
        ).fetchone()
        _check_conditions(req, current)
        plan = blobs.plan_references(conn, base, wanted)
    except RemoteError as exc:
        blobs.adopt_orphans(conn, base, wanted, now)
        return Refused(exc)
    # New references first: an overwrite with the same content never drops a blob to zero.
    blobs.apply_references(conn, plan)
    if current is not None:
        blobs.release(conn, blobs.tally(_decode_blobs(current[2])), now)
    etag = req.etag.strip('"')
    modified = round(now, 3)
    blob_text = _text(req.blobs)
    headers, user_meta, checksums = _text(req.headers), _text(req.user_meta), _text(req.checksums)
    storage_class = req.storage_class or "STANDARD"
    owner_id = req.principal or ""
    conn.execute(
        "INSERT INTO objects (bucket, key, version_id, size, etag, last_modified, blobs,"
        " headers, user_meta, checksums, storage_class, owner_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (bucket, key, version_id) DO UPDATE SET size = excluded.size,"
        " etag = excluded.etag, last_modified = excluded.last_modified,"
        " blobs = excluded.blobs, headers = excluded.headers, user_meta = excluded.user_meta,"
        " checksums = excluded.checksums, storage_class = excluded.storage_class,"
        " owner_id = excluded.owner_id, is_latest = 1, delete_marker = 0, corrupt = 0",
        (
            req.bucket,
            req.key,
            NULL_VERSION,
            req.size,
            etag,
            modified,
            blob_text,
            headers,
            user_meta,
            checksums,
            storage_class,
            owner_id,
        ),
    )
    return ObjectInfo(
        bucket=req.bucket,
        key=req.key,
        size=req.size,
        etag=etag,
        last_modified=modified,
        blobs=list(req.blobs),
        headers=dict(req.headers),
        user_meta=dict(req.user_meta),
        checksums=dict(req.checksums),
        storage_class=storage_class,
        version_id=NULL_VERSION if bucket.versioning else None,
        owner_id=owner_id,
        owner_name=_owner_name(conn, req.principal, bucket),
    )


def get_info(
    conn: sqlite3.Connection,
    principal: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
) -> ObjectInfo:
    info = buckets.authorize(conn, principal, bucket, "read")
    if version_id is not None and version_id != NULL_VERSION:
        raise error("NoSuchVersion", f"The specified version does not exist: {version_id}")
    row = _current(conn, bucket, key)
    if row is None or row[2]:
        raise _no_such_key(key)
    return _info(bucket, info.versioning, row)


def _delete_one(conn: sqlite3.Connection, bucket: str, key: str, now: float) -> None:
    row = conn.execute(
        "DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ? RETURNING blobs",
        (bucket, key, NULL_VERSION),
    ).fetchone()
    if row is not None:
        blobs.release(conn, blobs.tally(_decode_blobs(row[0])), now)


def delete(
    conn: sqlite3.Connection,
    *,
    principal: str | None,
    bucket: str,
    key: str,
    version_id: str | None,
    now: float,
) -> ObjectDeleted:
    buckets.authorize(conn, principal, bucket, "write")
    # Only the "null" version exists until versioning lands: any other id names nothing,
    # so there is nothing to delete and the delete succeeds (deletes are idempotent).
    if version_id is None or version_id == NULL_VERSION:
        _delete_one(conn, bucket, key, now)
    return ObjectDeleted(key=key, version_id=version_id)


def delete_many(
    conn: sqlite3.Connection, principal: str | None, bucket: str, keys: list[str], now: float
) -> ObjectsDeleted:
    if not keys:
        raise error("MalformedXML", "A Delete request must name at least one key.")
    if len(keys) > MAX_DELETE_KEYS:
        raise error("MalformedXML", f"A Delete request may name at most {MAX_DELETE_KEYS} keys.")
    info = buckets.fetch(conn, bucket)
    if info is None:
        raise buckets.no_such_bucket(bucket)
    result = ObjectsDeleted()
    if not rules.allowed(info.owner_id, info.acl, principal, "write"):
        result.errors = [
            DeleteFailure(key=k, code="AccessDenied", message="Access Denied") for k in keys
        ]
        return result
    for key in keys:
        _delete_one(conn, bucket, key, now)
        result.deleted.append(ObjectDeleted(key=key))
    return result
