"""Bucket operations on PostgreSQL.

Row locks on the bucket row order bucket administration against the writes inside it:
writers of objects and uploads read it FOR KEY SHARE (the lock their foreign keys take
anyway), while deleting the bucket and changing its ACL or versioning take FOR UPDATE, which
waits for the writes in flight and makes new ones wait (then re-read the bucket).
"""

from __future__ import annotations

from typing import Literal

from protocol.meta import BucketInfo, BucketList
from workers.meta import engine_rules, rules
from workers.meta.engine_rules import no_such_bucket
from workers.meta.postgres.db import Conn
from workers.meta.records import bucket_info
from workers.meta.rules import Access

_SELECT = (
    "SELECT b.name, b.owner_id, COALESCE(u.name, ''), b.created, b.region, b.acl, b.versioning"
    " FROM buckets b LEFT JOIN users u ON u.id = b.owner_id WHERE b.name = $1"
)
Lock = Literal["", "share", "update"]
_LOCKS = {"": "", "share": " FOR KEY SHARE OF b", "update": " FOR UPDATE OF b"}


async def fetch(conn: Conn, bucket: str, lock: Lock = "") -> BucketInfo | None:
    row = await conn.fetchrow(_SELECT + _LOCKS[lock], bucket)
    return None if row is None else bucket_info(tuple(row))


def authorized(
    row: tuple[object, ...] | None, bucket: str, principal: str | None, need: Access
) -> BucketInfo:
    """authorize() on a bucket row fetched by a combined read (bucket_row)."""
    if row is None:
        raise no_such_bucket(bucket)
    info = bucket_info(row)
    rules.require(info.owner_id, info.acl, principal, need)
    return info


def bucket_row(param: str, *, share: bool) -> str:
    """The bucket as one record column of a larger read; `share`-locked as writers need
    it (a read-only transaction takes no row lock)."""
    return (
        "SELECT ROW(b.name, b.owner_id, COALESCE(u.name, ''), b.created, b.region, b.acl,"
        f" b.versioning) FROM buckets b LEFT JOIN users u ON u.id = b.owner_id"
        f" WHERE b.name = {param}" + (" FOR KEY SHARE OF b" if share else "")
    )


async def authorize(
    conn: Conn, principal: str | None, bucket: str, need: Access, lock: Lock = ""
) -> BucketInfo:
    """The bucket if it exists and the principal has `need` access to it."""
    info = await fetch(conn, bucket, lock)
    if info is None:
        raise no_such_bucket(bucket)
    rules.require(info.owner_id, info.acl, principal, need)
    return info


async def create(
    conn: Conn, *, principal: str | None, bucket: str, region: str, acl: str, now: float
) -> BucketInfo:
    principal = engine_rules.check_create_bucket(principal, bucket, acl)
    region = region or "us-east-1"
    # Two nodes creating one name at once: the primary key makes the second insert wait
    # for the first and then do nothing, and both read the winner back. The owner's row is
    # share-locked so that a concurrent DeleteUser waits (or wins, and we see no user).
    inserted = await conn.fetchval(
        "INSERT INTO buckets (name, owner_id, created, region, acl)"
        " SELECT $1, id, $3, $4, $5 FROM users WHERE id = $2 FOR KEY SHARE"
        " ON CONFLICT (name) DO NOTHING RETURNING true",
        bucket,
        principal,
        now,
        region,
        acl,
    )
    existing = await fetch(conn, bucket, "update")
    if existing is None:
        raise engine_rules.unknown_principal()
    if inserted:
        return existing
    engine_rules.check_recreate_bucket(existing, principal, region)
    # us-east-1 legacy behaviour: re-creating your own bucket succeeds and resets its ACL.
    await conn.execute("UPDATE buckets SET acl = $2 WHERE name = $1", bucket, acl)
    existing.acl = acl
    return existing


async def check_deletable(conn: Conn, principal: str | None, bucket: str) -> None:
    """Owner-only; BucketNotEmpty while any version or delete marker remains. Uploads in
    progress do not count: AWS deletes the bucket anyway (the caller aborts them)."""
    await authorize(conn, principal, bucket, "owner", "update")
    if await conn.fetchval("SELECT true FROM objects WHERE bucket = $1 LIMIT 1", bucket):
        raise engine_rules.bucket_not_empty()


async def remove(conn: Conn, bucket: str) -> None:
    await conn.execute("DELETE FROM buckets WHERE name = $1", bucket)


async def put_versioning(conn: Conn, principal: str | None, bucket: str, status: str) -> None:
    await authorize(conn, principal, bucket, "owner", "update")
    engine_rules.check_versioning_status(status)
    await conn.execute("UPDATE buckets SET versioning = $2 WHERE name = $1", bucket, status)


async def put_acl(conn: Conn, principal: str | None, bucket: str, acl: str) -> None:
    await authorize(conn, principal, bucket, "owner", "update")
    rules.check_acl(acl)
    await conn.execute("UPDATE buckets SET acl = $2 WHERE name = $1", bucket, acl)


async def list_for(conn: Conn, principal: str | None) -> BucketList:
    principal = engine_rules.check_list_buckets(principal)
    user = await conn.fetchval("SELECT name FROM users WHERE id = $1", principal)
    if user is None:
        raise engine_rules.unknown_principal()
    rows = await conn.fetch(
        "SELECT b.name, b.owner_id, $2::text, b.created, b.region, b.acl, b.versioning"
        " FROM buckets b WHERE b.owner_id = $1 ORDER BY b.name",
        principal,
        user,
    )
    return BucketList(
        owner_id=principal, owner_name=str(user), buckets=[bucket_info(tuple(r)) for r in rows]
    )
