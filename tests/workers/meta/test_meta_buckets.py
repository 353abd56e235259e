"""Conformance: buckets and canned-ACL access control."""

from __future__ import annotations

import pytest

from protocol.errors import RemoteError
from tests.workers.meta.meta_support import World, put
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio


def code_of(exc: pytest.ExceptionInfo[RemoteError]) -> str:
    return exc.value.error_code


async def test_create_and_head_bucket(world: World) -> None:
    info = await world.store.head_bucket(world.alice, "alpha")
    assert info.name == "alpha"
    assert info.owner_id == world.alice
    assert info.owner_name == "alice"
    assert info.acl == "private"
    assert info.region == "us-east-1"
    assert info.versioning == ""
    assert info.created > 0


async def test_create_bucket_by_another_owner_is_already_exists(world: World) -> None:
    with pytest.raises(RemoteError) as exc:
        await world.store.create_bucket(world.bob, "alpha")
    assert code_of(exc) == "BucketAlreadyExists"


async def test_recreate_own_bucket_outside_us_east_1_is_already_owned(world: World) -> None:
    await world.store.create_bucket(world.alice, "west", region="eu-west-1")
    with pytest.raises(RemoteError) as exc:
        await world.store.create_bucket(world.alice, "west", region="eu-west-1")
    assert code_of(exc) == "BucketAlreadyOwnedByYou"


async def test_recreate_own_bucket_in_us_east_1_succeeds_and_resets_acl(world: World) -> None:
    await world.store.put_bucket_acl(world.alice, "alpha", "public-read")
    info = await world.store.create_bucket(world.alice, "alpha")
    assert info.acl == "private"
    assert (await world.store.get_bucket_acl(world.alice, "alpha")).acl == "private"


async def test_create_bucket_validation(world: World) -> None:
    for bad in ("ab", "Upper", "-dash", "a..b", "192.168.1.1", "x" * 64, "under_score"):
        with pytest.raises(RemoteError) as exc:
            await world.store.create_bucket(world.alice, bad)
        assert code_of(exc) == "InvalidBucketName", bad
    with pytest.raises(RemoteError) as exc:
        await world.store.create_bucket(world.alice, "good-name", acl="everyone")
    assert code_of(exc) == "InvalidArgument"
    with pytest.raises(RemoteError) as exc:
        await world.store.create_bucket(None, "anon-bucket")
    assert code_of(exc) == "AccessDenied"
    with pytest.raises(RemoteError) as exc:
        await world.store.create_bucket("f" * 64, "ghost-bucket")
    assert code_of(exc) == "AccessDenied"


async def test_missing_bucket_is_no_such_bucket_everywhere(world: World) -> None:
    store = world.store
    calls = [
        store.head_bucket(world.alice, "nope"),
        store.delete_bucket(world.alice, "nope"),
        store.put_bucket_acl(world.alice, "nope", "private"),
        store.get_bucket_acl(world.alice, "nope"),
        store.list_objects(world.alice, "nope"),
        store.get_object_info(world.alice, "nope", "k"),
        store.delete_object(world.alice, "nope", "k"),
        store.delete_objects(world.alice, "nope", ["k"]),
    ]
    for call in calls:
        with pytest.raises(RemoteError) as exc:
            await call
        assert code_of(exc) == "NoSuchBucket"


async def test_delete_bucket(world: World) -> None:
    store = world.store
    await put(store, world.alice, "alpha", "k")
    with pytest.raises(RemoteError) as exc:
        await store.delete_bucket(world.bob, "alpha")
    assert code_of(exc) == "AccessDenied"
    with pytest.raises(RemoteError) as exc:
        await store.delete_bucket(world.alice, "alpha")
    assert code_of(exc) == "BucketNotEmpty"
    await store.delete_object(world.alice, "alpha", "k")
    await store.delete_bucket(world.alice, "alpha")
    with pytest.raises(RemoteError) as exc:
        await store.head_bucket(world.alice, "alpha")
    assert code_of(exc) == "NoSuchBucket"
    # The name is free again, for anyone.
    await store.create_bucket(world.bob, "alpha")


async def test_list_buckets_is_own_sorted(world: World) -> None:
    store = world.store
    for name in ("zeta", "beta", "mid"):
        await store.create_bucket(world.alice, name)
    await store.create_bucket(world.bob, "bobs")
    listed = await store.list_buckets(world.alice)
    assert listed.owner_id == world.alice
    assert listed.owner_name == "alice"
    assert [b.name for b in listed.buckets] == ["alpha", "beta", "mid", "zeta"]
    assert [b.name for b in (await store.list_buckets(world.bob)).buckets] == ["bobs"]
    with pytest.raises(RemoteError) as exc:
        await store.list_buckets(None)
    assert code_of(exc) == "AccessDenied"


async def test_bucket_administration_is_owner_only(world: World) -> None:
    store = world.store
    await store.put_bucket_acl(world.alice, "alpha", "public-read-write")
    for principal in (world.bob, None):
        with pytest.raises(RemoteError) as exc:
            await store.put_bucket_acl(principal, "alpha", "private")
        assert code_of(exc) == "AccessDenied"
        with pytest.raises(RemoteError) as exc:
            await store.get_bucket_acl(principal, "alpha")
        assert code_of(exc) == "AccessDenied"
        with pytest.raises(RemoteError) as exc:
            await store.delete_bucket(principal, "alpha")
        assert code_of(exc) == "AccessDenied"
    with pytest.raises(RemoteError) as exc:
        await store.put_bucket_acl(world.alice, "alpha", "bogus")
    assert code_of(exc) == "InvalidArgument"


async def _can_read(store: MetaStore, principal: str | None) -> bool:
    try:
        await store.list_objects(principal, "alpha")
        await store.get_object_info(principal, "alpha", "k")
        await store.head_bucket(principal, "alpha")
    except RemoteError as exc:
        assert exc.error_code == "AccessDenied"
        return False
    return True


async def _can_write(store: MetaStore, principal: str | None) -> bool:
    try:
        await put(store, principal, "alpha", "w")
        await store.delete_object(principal, "alpha", "w")
        await store.head_bucket(principal, "alpha", write=True)
    except RemoteError as exc:
        assert exc.error_code == "AccessDenied"
        return False
    return True


@pytest.mark.parametrize(
    ("acl", "anon_read", "anon_write", "auth_read", "auth_write"),
    [
        ("private", False, False, False, False),
        ("public-read", True, False, True, False),
        ("public-read-write", True, True, True, True),
        ("authenticated-read", False, False, True, False),
    ],
)
async def test_canned_acl_access(
    world: World, acl: str, anon_read: bool, anon_write: bool, auth_read: bool, auth_write: bool
) -> None:
    store = world.store
    await put(store, world.alice, "alpha", "k")
    await store.put_bucket_acl(world.alice, "alpha", acl)
    assert await _can_read(store, None) is anon_read
    assert await _can_write(store, None) is anon_write
    assert await _can_read(store, world.bob) is auth_read
    assert await _can_write(store, world.bob) is auth_write
    # The owner has full access whatever the ACL says.
    assert await _can_read(store, world.alice)
    assert await _can_write(store, world.alice)
