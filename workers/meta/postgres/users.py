"""Users and access keys on PostgreSQL. Secrets are sealed before they reach the database and
opened only for GetAccessKey (the front's SigV4 check). Uniqueness races between nodes are
settled by the unique indexes (INSERT ... ON CONFLICT DO NOTHING), not by reading first."""

from __future__ import annotations

from protocol.meta import AccessKeyInfo, KeyList, UserInfo, UserList
from workers.meta import credentials, rules
from workers.meta.credentials import SecretBox
from workers.meta.postgres.db import Conn
from workers.meta.rules import error

_KEY_ID_ATTEMPTS = 8


def _no_such_user(name: str) -> Exception:
    return error("NoSuchEntity", f"The user with name {name} cannot be found.")


async def _user_id(conn: Conn, name: str, *, lock: str = "") -> str:
    user_id = await conn.fetchval(f"SELECT id FROM users WHERE name = $1{lock}", name)
    if user_id is None:
        raise _no_such_user(name)
    return str(user_id)


async def create_user(conn: Conn, name: str, now: float) -> UserInfo:
    rules.check_user_name(name)
    user_id = credentials.new_user_id()
    created = await conn.fetchval(
        "INSERT INTO users (id, name, created) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO NOTHING RETURNING true",
        user_id,
        name,
        now,
    )
    if not created:
        raise error("EntityAlreadyExists", f"User with name {name} already exists.")
    return UserInfo(user_id=user_id, name=name, created=now)


async def list_users(conn: Conn) -> UserList:
    rows = await conn.fetch(
        "SELECT u.id, u.name, u.created, COUNT(k.access_key_id) FROM users u"
        " LEFT JOIN access_keys k ON k.user_id = u.id GROUP BY u.id ORDER BY u.name"
    )
    return UserList(
        users=[
            UserInfo(user_id=uid, name=name, created=created, keys=keys)
            for uid, name, created, keys in rows
        ]
    )


async def delete_user(conn: Conn, name: str) -> None:
    # The row lock makes a concurrent CreateBucket or CreateKey for this user wait, then
    # find no user: nothing can come to reference a user being deleted.
    user_id = await _user_id(conn, name, lock=" FOR UPDATE")
    count = int(await conn.fetchval("SELECT COUNT(*) FROM buckets WHERE owner_id = $1", user_id))
    if count:
        raise error(
            "DeleteConflict",
            f"User {name} still owns {count} bucket(s); delete them before the user.",
        )
    await conn.execute("DELETE FROM access_keys WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)


async def create_key(conn: Conn, box: SecretBox, user: str, now: float) -> AccessKeyInfo:
    user_id = await _user_id(conn, user, lock=" FOR KEY SHARE")
    secret = credentials.new_secret()
    for _ in range(_KEY_ID_ATTEMPTS):
        key_id = credentials.new_access_key_id()
        created = await conn.fetchval(
            "INSERT INTO access_keys (access_key_id, user_id, secret, status, created)"
            " VALUES ($1, $2, $3, 'Active', $4) ON CONFLICT (access_key_id) DO NOTHING"
            " RETURNING true",
            key_id,
            user_id,
            box.seal(key_id, secret),
            now,
        )
        if not created:
            continue  # a 93-bit id collided: draw another
        return AccessKeyInfo(
            access_key_id=key_id,
            secret=secret,
            user_id=user_id,
            user_name=user,
            status="Active",
            created=now,
        )
    raise error("InternalError", "could not draw an unused access key id")


_KEY_SELECT = (
    "SELECT k.access_key_id, k.secret, k.user_id, u.name, k.status, k.created"
    " FROM access_keys k JOIN users u ON u.id = k.user_id"
)


async def get_key(conn: Conn, box: SecretBox, access_key_id: str) -> AccessKeyInfo:
    row = await conn.fetchrow(_KEY_SELECT + " WHERE k.access_key_id = $1", access_key_id)
    if row is None:
        raise error(
            "InvalidAccessKeyId",
            "The AWS access key Id you provided does not exist in our records.",
        )
    key_id, sealed, user_id, user_name, status, created = row
    return AccessKeyInfo(
        access_key_id=key_id,
        secret=box.open(key_id, bytes(sealed)),
        user_id=user_id,
        user_name=user_name,
        status=status,
        created=created,
    )


async def list_keys(conn: Conn, user: str | None) -> KeyList:
    if user is None:
        rows = await conn.fetch(_KEY_SELECT + " ORDER BY u.name, k.created, k.access_key_id")
    else:
        user_id = await _user_id(conn, user)
        rows = await conn.fetch(
            _KEY_SELECT + " WHERE k.user_id = $1 ORDER BY k.created, k.access_key_id", user_id
        )
    return KeyList(
        keys=[
            AccessKeyInfo(
                access_key_id=key_id,
                secret="",
                user_id=user_id,
                user_name=user_name,
                status=status,
                created=created,
            )
            for key_id, _, user_id, user_name, status, created in rows
        ]
    )


async def revoke_key(conn: Conn, access_key_id: str) -> None:
    status = await conn.execute(
        "UPDATE access_keys SET status = 'Inactive' WHERE access_key_id = $1", access_key_id
    )
    if status == "UPDATE 0":
        raise error("NoSuchEntity", f"The access key with id {access_key_id} cannot be found.")
