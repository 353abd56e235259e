"""Users and access keys on SQLite. Secrets are sealed before they reach the database and
opened only for GetAccessKey (the front's SigV4 check)."""

from __future__ import annotations

import sqlite3

from protocol.meta import AccessKeyInfo, KeyList, UserInfo, UserList
from workers.meta import credentials, rules
from workers.meta.credentials import SecretBox
from workers.meta.rules import error

_KEY_ID_ATTEMPTS = 8


def _user_id(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise error("NoSuchEntity", f"The user with name {name} cannot be found.")
    return str(row[0])


def create_user(conn: sqlite3.Connection, name: str, now: float) -> UserInfo:
    rules.check_user_name(name)
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise error("EntityAlreadyExists", f"User with name {name} already exists.")
    user_id = credentials.new_user_id()
    conn.execute("INSERT INTO users (id, name, created) VALUES (?, ?, ?)", (user_id, name, now))
    return UserInfo(user_id=user_id, name=name, created=now)


def list_users(conn: sqlite3.Connection) -> UserList:
    rows = conn.execute(
        "SELECT u.id, u.name, u.created, COUNT(k.access_key_id) FROM users u"
        " LEFT JOIN access_keys k ON k.user_id = u.id GROUP BY u.id ORDER BY u.name"
    )
    return UserList(
        users=[
            UserInfo(user_id=uid, name=name, created=created, keys=keys)
            for uid, name, created, keys in rows
        ]
    )


def delete_user(conn: sqlite3.Connection, name: str) -> None:
    user_id = _user_id(conn, name)
    owned = conn.execute("SELECT COUNT(*) FROM buckets WHERE owner_id = ?", (user_id,))
    count = int(owned.fetchone()[0])
    if count:
        raise error(
            "DeleteConflict",
            f"User {name} still owns {count} bucket(s); delete them before the user.",
        )
    conn.execute("DELETE FROM access_keys WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM users WHERE id = ?", (user_id,))


def create_key(conn: sqlite3.Connection, box: SecretBox, user: str, now: float) -> AccessKeyInfo:
    user_id = _user_id(conn, user)
    secret = credentials.new_secret()
    for _ in range(_KEY_ID_ATTEMPTS):
        key_id = credentials.new_access_key_id()
        try:
            conn.execute(
                "INSERT INTO access_keys (access_key_id, user_id, secret, status, created)"
                " VALUES (?, ?, ?, 'Active', ?)",
                (key_id, user_id, box.seal(key_id, secret), now),
            )
        except sqlite3.IntegrityError:
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


def get_key(conn: sqlite3.Connection, box: SecretBox, access_key_id: str) -> AccessKeyInfo:
    row = conn.execute(_KEY_SELECT + " WHERE k.access_key_id = ?", (access_key_id,)).fetchone()
    if row is None:
        raise error(
            "InvalidAccessKeyId",
            "The AWS access key Id you provided does not exist in our records.",
        )
    key_id, sealed, user_id, user_name, status, created = row
    return AccessKeyInfo(
        access_key_id=key_id,
        secret=box.open(key_id, sealed),
        user_id=user_id,
        user_name=user_name,
        status=status,
        created=created,
    )


def list_keys(conn: sqlite3.Connection, user: str | None) -> KeyList:
    if user is None:
        rows = conn.execute(_KEY_SELECT + " ORDER BY u.name, k.created, k.access_key_id")
    else:
        user_id = _user_id(conn, user)
        rows = conn.execute(
            _KEY_SELECT + " WHERE k.user_id = ? ORDER BY k.created, k.access_key_id",
            (user_id,),
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


def revoke_key(conn: sqlite3.Connection, access_key_id: str) -> None:
    cur = conn.execute(
        "UPDATE access_keys SET status = 'Inactive' WHERE access_key_id = ?", (access_key_id,)
    )
    if cur.rowcount == 0:
        raise error("NoSuchEntity", f"The access key with id {access_key_id} cannot be found.")
