"""Bucket operations on a SQLite connection (reads run in the pool, writes in the writer)."""

from __future__ import annotations

import sqlite3

from protocol.errors import RemoteError
from protocol.meta import BucketInfo, BucketList
from workers.meta import rules
from workers.meta.rules import Access, error

_SELECT = (
    "SELECT b.name, b.owner_id, COALESCE(u.name, ''), b.created, b.region, b.acl, b.versioning"
    " FROM buckets b LEFT JOIN users u ON u.id = b.owner_id"
)


def _info(row: tuple[str, str, str, float, str, str, str]) -> BucketInfo:
    name, owner_id, owner_name, created, region, acl, versioning = row
    return BucketInfo(
        name=name,
        owner_id=owner_id,
        owner_name=owner_name,
        created=created,
        region=region,
        acl=acl,
        versioning=versioning,
    )


def no_such_bucket(bucket: str) -> RemoteError:
    return error("NoSuchBucket", f"The specified bucket does not exist: {bucket}")


def fetch(conn: sqlite3.Connection, bucket: str) -> BucketInfo | None:
    row = conn.execute(_SELECT + " WHERE b.name = ?", (bucket,)).fetchone()
    return None if row is None else _info(row)


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
    if principal is None:
        raise error("AccessDenied", "Anonymous users cannot create buckets.")
    rules.check_bucket_name(bucket)
    rules.check_acl(acl)
    region = region or "us-east-1"
    existing = fetch(conn, bucket)
    if existing is not None:
        if existing.owner_id != principal:
            raise error(
                "BucketAlreadyExists",
                "The requested bucket name is not available. The bucket namespace is shared"
                " by all users of the system. Please select a different name and try again.",
            )
        if region != "us-east-1":
            raise error(
                "BucketAlreadyOwnedByYou",
                "The bucket you tried to create already exists, and you own it.",
            )
        # us-east-1 legacy behaviour: re-creating your own bucket succeeds and resets its ACL.
        conn.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, bucket))
        existing.acl = acl
        return existing
    if not _user_exists(conn, principal):
        raise error("AccessDenied", "The requesting principal is not a known user.")
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
        raise error("BucketNotEmpty", "The bucket you tried to delete is not empty.")


def remove(conn: sqlite3.Connection, bucket: str) -> None:
    conn.execute("DELETE FROM buckets WHERE name = ?", (bucket,))


VERSIONING_STATES = ("Enabled", "Suspended")


def put_versioning(
    conn: sqlite3.Connection, principal: str | None, bucket: str, status: str
) -> None:
    """Owner-only. Only "Enabled" and "Suspended" exist: a bucket never goes back to
    unversioned, and anything else is MalformedXML as on AWS."""
    authorize(conn, principal, bucket, "owner")
    if status not in VERSIONING_STATES:
        raise error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our"
            f" published schema (versioning status {status!r}: expected Enabled or Suspended)",
        )
    conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket))


def list_for(conn: sqlite3.Connection, principal: str | None) -> BucketList:
    if principal is None:
        raise error("AccessDenied", "Anonymous users cannot list buckets.")
    user = conn.execute("SELECT name FROM users WHERE id = ?", (principal,)).fetchone()
    if user is None:
        raise error("AccessDenied", "The requesting principal is not a known user.")
    rows = conn.execute(_SELECT + " WHERE b.owner_id = ? ORDER BY b.name", (principal,))
    return BucketList(owner_id=principal, owner_name=user[0], buckets=[_info(row) for row in rows])


def put_acl(conn: sqlite3.Connection, principal: str | None, bucket: str, acl: str) -> None:
    authorize(conn, principal, bucket, "owner")
    rules.check_acl(acl)
    conn.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, bucket))
