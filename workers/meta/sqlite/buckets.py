"""Bucket operations on a SQLite connection (reads run in the pool, writes in the writer)."""

from __future__ import annotations

import sqlite3

from protocol.meta import BucketInfo, BucketList
from workers.meta import engine_rules, rules
from workers.meta.engine_rules import no_such_bucket
from workers.meta.records import bucket_info
from workers.meta.rules import Access

_SELECT = (
    "SELECT b.name, b.owner_id, COALESCE(u.name, ''), b.created, b.region, b.acl, b.versioning"
    " FROM buckets b LEFT JOIN users u ON u.id = b.owner_id"
)


def fetch(conn: sqlite3.Connection, bucket: str) -> BucketInfo | None:
    row = conn.execute(_SELECT + " WHERE b.name = ?", (bucket,)).fetchone()
    return None if row is None else bucket_info(row)


def authorize(
    conn: sqlite3.Connection, principal: str | None, bucket: str, need: Access
) -> BucketInfo:
    """The bucket if it exists and the principal has `need` access to it."""
    info = fetch(conn, bucket)
    if info is None:
        raise no_such_bucket(bucket)
    rules.require(info.owner_id, info.acl, principal, need)
    return info


def _user_exists(conn: sqlite3.Connection, user_id: str) -> bool:
    return conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None


def create(
    conn: sqlite3.Connection,
    *,
    principal: str | None,
    bucket: str,
    region: str,
    acl: str,
    now: float,
) -> BucketInfo:
    principal = engine_rules.check_create_bucket(principal, bucket, acl)
    region = region or "us-east-1"
    existing = fetch(conn, bucket)
    if existing is not None:
        engine_rules.check_recreate_bucket(existing, principal, region)
        # us-east-1 legacy behaviour: re-creating your own bucket succeeds and resets its ACL.
        conn.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, bucket))
        existing.acl = acl
        return existing
    if not _user_exists(conn, principal):
        raise engine_rules.unknown_principal()
    conn.execute(
        "INSERT INTO buckets (name, owner_id, created, region, acl) VALUES (?, ?, ?, ?, ?)",
        (bucket, principal, now, region, acl),
    )
    info = fetch(conn, bucket)
    assert info is not None
    return info


def check_deletable(conn: sqlite3.Connection, principal: str | None, bucket: str) -> None:
    """Owner-only; BucketNotEmpty while any version or delete marker remains. Uploads in
    progress do not count: AWS deletes the bucket anyway (the caller aborts them)."""
    authorize(conn, principal, bucket, "owner")
    if conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (bucket,)).fetchone():
        raise engine_rules.bucket_not_empty()


def remove(conn: sqlite3.Connection, bucket: str) -> None:
    conn.execute("DELETE FROM buckets WHERE name = ?", (bucket,))


def put_versioning(
    conn: sqlite3.Connection, principal: str | None, bucket: str, status: str
) -> None:
    """Owner-only. Only "Enabled" and "Suspended" exist: a bucket never goes back to
    unversioned, and anything else is MalformedXML as on AWS."""
    authorize(conn, principal, bucket, "owner")
    engine_rules.check_versioning_status(status)
    conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket))


def list_for(conn: sqlite3.Connection, principal: str | None) -> BucketList:
    principal = engine_rules.check_list_buckets(principal)
    user = conn.execute("SELECT name FROM users WHERE id = ?", (principal,)).fetchone()
    if user is None:
        raise engine_rules.unknown_principal()
    rows = conn.execute(_SELECT + " WHERE b.owner_id = ? ORDER BY b.name", (principal,))
    return BucketList(
        owner_id=principal, owner_name=user[0], buckets=[bucket_info(row) for row in rows]
    )


def put_acl(conn: sqlite3.Connection, principal: str | None, bucket: str, acl: str) -> None:
    authorize(conn, principal, bucket, "owner")
    rules.check_acl(acl)
    conn.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, bucket))
