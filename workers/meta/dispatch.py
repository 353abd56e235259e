"""Turning one request message of protocol/meta.py into one store call and its reply, through
the Redis cache when there is one: hot reads (HeadBucket, GetAccessKey, GetObjectInfo of the
latest version) go through it, and every write that changes something cached invalidates it
after the store call returned (the commit is durable) and before the reply leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from protocol.base import Done, Message
from protocol.errors import ProtocolError, RemoteError
from protocol.lifecycle import GCSettings
from protocol.meta import (
    AbortMultipartUpload,
    CommitObject,
    CompleteMultipartUpload,
    CreateBucket,
    CreateKey,
    CreateMultipartUpload,
    CreateUser,
    DeleteBucket,
    DeleteObject,
    DeleteObjects,
    DeleteUser,
    GetAccessKey,
    GetMigrations,
    GetObjectInfo,
    HeadBucket,
    ListBuckets,
    ListKeys,
    ListMultipartUploads,
    ListObjects,
    ListObjectVersions,
    ListParts,
    ListUsers,
    MigrationEntry,
    MigrationList,
    Ping,
    Pong,
    PutBucketAcl,
    PutBucketVersioning,
    RegisterPart,
    RevokeKey,
    RunGC,
    RunScrub,
    ScrubReport,
)
from workers.meta.gc import DEFAULT_MULTIPART_EXPIRATION, run_gc, run_gc_exclusive
from workers.meta.gc_lock import GCExclusion
from workers.meta.meta_cache import MetaCache
from workers.meta.redis_client import RedisLink, redis_status
from workers.meta.scrub import run_scrub
from workers.meta.store import MetaStore

# Errors after which a write may or may not have been committed: invalidate anyway. Any other
# RemoteError is a refusal, and a refused transaction changed nothing.
_UNCERTAIN = ("InternalError", "ServiceUnavailable")

Invalidation = Callable[[MetaCache], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MetaServices:
    """What the meta process adds around its store. All None: no Redis, no GC lock (tools
    and tests calling dispatch directly)."""

    redis: RedisLink | None = None
    cache: MetaCache | None = None
    gc_lock: GCExclusion | None = None


_NO_SERVICES = MetaServices()


async def _ping(store: MetaStore, services: MetaServices) -> Pong:
    try:
        pong = await store.ping()
    except Exception as exc:  # the answer to a health probe is "unhealthy", not an error
        pong = Pong(database=False, detail={"error": f"{type(exc).__name__}: {exc}"})
    pong.detail = {**pong.detail, "redis": redis_status(services.redis)}
    return pong


def _invalidation(msg: Message) -> Invalidation | None:
    """What a write must invalidate once committed; None for reads and for writes to
    things the cache does not hold (uploads, parts, new users and keys)."""
    match msg:
        case (
            CreateBucket(bucket=bucket)
            | DeleteBucket(bucket=bucket)
            | PutBucketAcl(bucket=bucket)
            | PutBucketVersioning(bucket=bucket)
            | CommitObject(bucket=bucket)
            | DeleteObject(bucket=bucket)
            | DeleteObjects(bucket=bucket)
            | CompleteMultipartUpload(bucket=bucket)
        ):
            return lambda cache: cache.bucket_changed(bucket)
        case RevokeKey():
            return MetaCache.keys_changed
        case DeleteUser():
            # Keys go, and object rows show their writer's name through a join: everything.
            return MetaCache.everything_changed
    return None


async def _cached_read(cache: MetaCache, msg: Message) -> Message | None:
    match msg:
        case HeadBucket(principal=who, bucket=bucket, write=write):
            return await cache.head_bucket(who, bucket, write=write)
        case GetObjectInfo(principal=who, bucket=bucket, key=key, version_id=None):
            return await cache.get_object_info(who, bucket, key)
        case GetAccessKey(access_key_id=key_id):
            return await cache.get_access_key(key_id)
    return None


async def dispatch(
    store: MetaStore,
    gc: GCSettings,
    msg: Message,
    *,
    multipart_expiration: float = DEFAULT_MULTIPART_EXPIRATION,
    services: MetaServices | None = None,
) -> Message:
    """The reply to `msg` (its rid is set by the caller). RemoteError propagates."""
    extra = services or _NO_SERVICES
    cache = extra.cache
    if cache is None:
        return await _direct(store, gc, msg, multipart_expiration, extra)
    cached = await _cached_read(cache, msg)
    if cached is not None:
        return cached
    invalidate = _invalidation(msg)
    if invalidate is None:
        reply = await _direct(store, gc, msg, multipart_expiration, extra)
        if isinstance(reply, ScrubReport) and reply.objects_marked:
            with anyio.CancelScope(shield=True):
                await cache.everything_changed()  # objects now marked corrupt
        return reply
    try:
        reply = await _direct(store, gc, msg, multipart_expiration, extra)
    except RemoteError as exc:
        if exc.error_code in _UNCERTAIN:
            with anyio.CancelScope(shield=True):
                await invalidate(cache)
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await invalidate(cache)
        raise
    # Shielded: the commit is durable even if this request is being cancelled now (peer
    # gone, shutdown), so its invalidation must happen all the same.
    with anyio.CancelScope(shield=True):
        await invalidate(cache)
    return reply


async def _direct(
    store: MetaStore,
    gc: GCSettings,
    msg: Message,
    multipart_expiration: float,
    services: MetaServices,
) -> Message:
    reply = await _objects_and_uploads(store, msg)
    if reply is not None:
        return reply
    match msg:
        case CreateBucket(principal=who, bucket=bucket, region=region, acl=acl):
            return await store.create_bucket(who, bucket, region=region, acl=acl)
        case DeleteBucket(principal=who, bucket=bucket):
            await store.delete_bucket(who, bucket)
            return Done()
        case HeadBucket(principal=who, bucket=bucket, write=write):
            return await store.head_bucket(who, bucket, write=write)
        case ListBuckets(principal=who):
            return await store.list_buckets(who)
        case PutBucketAcl(principal=who, bucket=bucket, acl=acl):
            await store.put_bucket_acl(who, bucket, acl)
            return Done()
        case PutBucketVersioning(principal=who, bucket=bucket, status=status):
            await store.put_bucket_versioning(who, bucket, status)
            return Done()
        case GetAccessKey(access_key_id=key_id):
            return await store.get_access_key(key_id)
        case CreateUser(name=name):
            return await store.create_user(name)
        case ListUsers():
            return await store.list_users()
        case DeleteUser(name=name):
            await store.delete_user(name)
            return Done()
        case CreateKey(user=user):
            return await store.create_key(user)
        case ListKeys(user=user):
            return await store.list_keys(user)
        case RevokeKey(access_key_id=key_id):
            await store.revoke_key(key_id)
            return Done()
        case Ping():
            return await _ping(store, services)
        case RunGC(grace_period=grace, dry_run=dry) if services.gc_lock is not None:
            return await run_gc_exclusive(
                services.gc_lock,
                store,
                gc,
                grace_period=grace,
                dry_run=dry,
                multipart_expiration=multipart_expiration,
            )
        case RunGC(grace_period=grace, dry_run=dry):
            return await run_gc(
                store,
                gc,
                grace_period=grace,
                dry_run=dry,
                multipart_expiration=multipart_expiration,
            )
        case RunScrub():
            return await run_scrub(store)
        case GetMigrations():
            return await _migrations(store)
        case _:
            raise ProtocolError(f"the meta process does not handle {type(msg).__name__}")


async def _migrations(store: MetaStore) -> MigrationList:
    pong = await store.ping()
    entries = [
        MigrationEntry(version=m.version, name=m.name, applied_at=m.applied_at)
        for m in await store.migration_status()
    ]
    return MigrationList(driver=pong.detail.get("driver", ""), migrations=entries)


async def _objects_and_uploads(store: MetaStore, msg: Message) -> Message | None:
    """The reply to an object, listing or multipart request; None for any other message."""
    match msg:
        case CommitObject():
            return await store.commit_object(msg)
        case GetObjectInfo(principal=who, bucket=bucket, key=key, version_id=version):
            return await store.get_object_info(who, bucket, key, version)
        case DeleteObject(principal=who, bucket=bucket, key=key, version_id=version):
            return await store.delete_object(who, bucket, key, version)
        case DeleteObjects(principal=who, bucket=bucket, keys=keys, version_ids=versions):
            return await store.delete_objects(who, bucket, keys, versions)
        case ListObjects(principal=who, bucket=bucket):
            return await store.list_objects(
                who,
                bucket,
                prefix=msg.prefix,
                delimiter=msg.delimiter,
                after=msg.after,
                max_keys=msg.max_keys,
            )
        case ListObjectVersions(principal=who, bucket=bucket):
            return await store.list_object_versions(
                who,
                bucket,
                prefix=msg.prefix,
                delimiter=msg.delimiter,
                key_marker=msg.key_marker,
                version_id_marker=msg.version_id_marker,
                max_keys=msg.max_keys,
            )
        case CreateMultipartUpload():
            return await store.create_multipart_upload(msg)
        case RegisterPart():
            return await store.register_part(msg)
        case ListParts():
            return await store.list_parts(msg)
        case CompleteMultipartUpload():
            return await store.complete_multipart_upload(msg)
        case AbortMultipartUpload(principal=who, bucket=bucket, key=key, upload_id=upload_id):
            await store.abort_multipart_upload(who, bucket, key, upload_id)
            return Done()
        case ListMultipartUploads():
            return await store.list_multipart_uploads(msg)
    return None
