"""Conformance: users and access keys (secrets encrypted at rest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.errors import RemoteError
from tests.workers.meta.meta_support import open_engine
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio


async def test_create_and_list_users(store: MetaStore) -> None:
    bob = await store.create_user("bob")
    alice = await store.create_user("alice")
    assert re.fullmatch(r"[0-9a-f]{64}", alice.user_id)
    assert alice.user_id != bob.user_id
    assert alice.name == "alice"
    assert alice.created > 0
    await store.create_key("alice")
    await store.create_key("alice")
    listed = await store.list_users()
    assert [(u.name, u.user_id, u.keys) for u in listed.users] == [
        ("alice", alice.user_id, 2),
        ("bob", bob.user_id, 0),
    ]


async def test_user_name_rules(store: MetaStore) -> None:
    await store.create_user("carol")
    with pytest.raises(RemoteError) as exc:
        await store.create_user("carol")
    assert exc.value.error_code == "EntityAlreadyExists"
    for bad in ("", "has space", "x" * 65, "slash/name", "ünïcode"):
        with pytest.raises(RemoteError) as exc:
            await store.create_user(bad)
        assert exc.value.error_code == "InvalidUserName", bad
    await store.create_user("a.b@c_d-e+f=g,h")


async def test_delete_user(store: MetaStore) -> None:
    dave = await store.create_user("dave")
    key = await store.create_key("dave")
    await store.create_bucket(dave.user_id, "daves-bucket")
    with pytest.raises(RemoteError) as exc:
        await store.delete_user("dave")
    assert exc.value.error_code == "DeleteConflict"
    assert "bucket" in exc.value.message
    await store.delete_bucket(dave.user_id, "daves-bucket")
    await store.delete_user("dave")
    assert (await store.list_users()).users == []
    with pytest.raises(RemoteError) as exc:
        await store.get_access_key(key.access_key_id)
    assert exc.value.error_code == "InvalidAccessKeyId"
    with pytest.raises(RemoteError) as exc:
        await store.delete_user("dave")
    assert exc.value.error_code == "NoSuchEntity"


async def test_create_and_get_key(store: MetaStore) -> None:
    user = await store.create_user("erin")
    created = await store.create_key("erin")
    assert re.fullmatch(r"AK[A-Z0-9]{18}", created.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", created.secret)
    assert created.user_id == user.user_id
    assert created.user_name == "erin"
    assert created.status == "Active"
    fetched = await store.get_access_key(created.access_key_id)
    assert fetched == created
    with pytest.raises(RemoteError) as exc:
        await store.create_key("nobody")
    assert exc.value.error_code == "NoSuchEntity"
    with pytest.raises(RemoteError) as exc:
        await store.get_access_key("AKNOTAREALKEY0000000")
    assert exc.value.error_code == "InvalidAccessKeyId"


async def test_list_keys_hides_secrets(store: MetaStore) -> None:
    await store.create_user("fay")
    await store.create_user("gus")
    fay1 = await store.create_key("fay")
    fay2 = await store.create_key("fay")
    gus1 = await store.create_key("gus")
    mine = await store.list_keys("fay")
    assert {k.access_key_id for k in mine.keys} == {fay1.access_key_id, fay2.access_key_id}
    everyone = await store.list_keys()
    assert {k.access_key_id for k in everyone.keys} == {
        fay1.access_key_id,
        fay2.access_key_id,
        gus1.access_key_id,
    }
    assert all(k.secret == "" for k in everyone.keys)
    assert all(k.status == "Active" for k in everyone.keys)
    with pytest.raises(RemoteError) as exc:
        await store.list_keys("nobody")
    assert exc.value.error_code == "NoSuchEntity"


async def test_revoke_key(store: MetaStore) -> None:
    await store.create_user("hal")
    key = await store.create_key("hal")
    await store.revoke_key(key.access_key_id)
    await store.revoke_key(key.access_key_id)  # idempotent
    revoked = await store.get_access_key(key.access_key_id)
    assert revoked.status == "Inactive"
    assert revoked.secret == key.secret
    assert [k.status for k in (await store.list_keys("hal")).keys] == ["Inactive"]
    with pytest.raises(RemoteError) as exc:
        await store.revoke_key("AKNOTAREALKEY0000000")
    assert exc.value.error_code == "NoSuchEntity"


async def test_secrets_are_encrypted_at_rest(engine: str, tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with open_engine(engine, base) as store:
        await store.create_user("ivy")
        key = await store.create_key("ivy")
        reopened_secret = (await store.get_access_key(key.access_key_id)).secret
    assert reopened_secret == key.secret
    # No file of the data directory holds the secret in clear.
    for path in base.rglob("*"):
        if path.is_file():
            assert key.secret.encode() not in path.read_bytes(), path
    async with open_engine(engine, base) as store:
        assert (await store.get_access_key(key.access_key_id)).secret == key.secret
