"""The meta process's hot reads through the Redis cache (redis_cache.py), and the
invalidations its writes owe: HeadBucket, GetObjectInfo of the latest version, GetAccessKey.

What is cached, and under which generation scope:
- "b:<bucket>" the BucketInfo (owner, ACL, versioning), scope "b:<bucket>";
- "o:<bucket>/<key>" the latest version's ObjectInfo, same scope, so any write to the bucket
  (object, ACL, versioning, bucket delete) invalidates its objects too;
- "k:<access key id>" an access key with its secret SEALED (AES-256-GCM under the master key,
  the key id as associated data): Redis never holds a plaintext secret. Scope "keys", bumped
  when a key is revoked or a user deleted.
Only successful answers are cached. Access decisions are made on every hit from the cached
BucketInfo with the engines' own rule (rules.require), so a cached entry is shared by every
principal and still answers AccessDenied exactly as the database would.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from protocol.errors import RemoteError
from protocol.meta import AccessKeyInfo, BucketInfo, ObjectInfo
from workers.meta import rules
from workers.meta.credentials import SecretBox
from workers.meta.redis_cache import DEFAULT_TTL, GenerationCache
from workers.meta.redis_client import RedisLink
from workers.meta.store import MetaStore

KEYS_SCOPE = "keys"
T = TypeVar("T")


class _SealedKey(msgspec.Struct, array_like=True):
    user_id: str
    user_name: str
    status: str
    created: float
    sealed: bytes


_encode = msgspec.msgpack.Encoder().encode
_bucket = msgspec.msgpack.Decoder(BucketInfo)
_object = msgspec.msgpack.Decoder(ObjectInfo)
_key = msgspec.msgpack.Decoder(_SealedKey)


def _bucket_scope(bucket: str) -> str:
    return f"b:{bucket}"


def _object_name(bucket: str, key: str) -> str:
    # Bucket names cannot contain "/", so the split is unambiguous.
    return f"o:{bucket}/{key}"


def _decoded(decoder: msgspec.msgpack.Decoder[T], raw: bytes | None) -> T | None:
    if raw is None:
        return None
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError:
        return None  # another build's layout: a miss


class MetaCache:
    """Cached reads over `store`; `hits` and `misses` count lookups answered either way."""

    def __init__(
        self, store: MetaStore, link: RedisLink, master_key: bytes, *, ttl: float = DEFAULT_TTL
    ) -> None:
        self.store = store
        self.generations = GenerationCache(link, ttl=ttl)
        self._box = SecretBox(master_key)
        self.hits = 0
        self.misses = 0

    # -- reads ----------------------------------------------------------------------------

    async def head_bucket(
        self, principal: str | None, bucket: str, *, write: bool = False
    ) -> BucketInfo:
        scope = _bucket_scope(bucket)
        ticket, (raw,) = await self.generations.lookup(scope, [scope])
        info = _decoded(_bucket, raw)
        if info is not None:
            self.hits += 1  # an AccessDenied decided from the entry is a hit too
            rules.require(info.owner_id, info.acl, principal, "write" if write else "read")
            return info
        self.misses += 1
        info = await self.store.head_bucket(principal, bucket, write=write)
        if ticket is not None:
            await self.generations.fill(ticket, scope, _encode(info))
        return info

    async def get_object_info(self, principal: str | None, bucket: str, key: str) -> ObjectInfo:
        """The latest version (GetObjectInfo without a version id)."""
        scope = _bucket_scope(bucket)
        name = _object_name(bucket, key)
        ticket, (raw_bucket, raw_object) = await self.generations.lookup(scope, [scope, name])
        fills: dict[str, bytes] = {}
        info = _decoded(_bucket, raw_bucket)
        if info is not None:
            if not rules.allowed(info.owner_id, info.acl, principal, "read"):
                self.hits += 1
                rules.require(info.owner_id, info.acl, principal, "read")  # raises
            found = _decoded(_object, raw_object)
            if found is not None:
                self.hits += 1
                return found
        else:
            # The object entry is only usable with the bucket's: fetch both on a miss.
            fills[scope] = _encode(await self.store.head_bucket(principal, bucket))
        self.misses += 1
        found = await self.store.get_object_info(principal, bucket, key, None)
        if ticket is not None:
            fills[name] = _encode(found)
            await self.generations.fill_many(ticket, fills)
        return found

    async def get_access_key(self, access_key_id: str) -> AccessKeyInfo:
        name = f"k:{access_key_id}"
        ticket, (raw,) = await self.generations.lookup(KEYS_SCOPE, [name])
        cached = _decoded(_key, raw)
        if cached is not None:
            try:
                secret = self._box.open(access_key_id, cached.sealed)
            except RemoteError:
                secret = None  # sealed under another master key: ask the database
            if secret is not None:
                self.hits += 1
                return AccessKeyInfo(
                    access_key_id=access_key_id,
                    secret=secret,
                    user_id=cached.user_id,
                    user_name=cached.user_name,
                    status=cached.status,
                    created=cached.created,
                )
        self.misses += 1
        info = await self.store.get_access_key(access_key_id)
        if ticket is not None:
            sealed = _SealedKey(
                user_id=info.user_id,
                user_name=info.user_name,
                status=info.status,
                created=info.created,
                sealed=self._box.seal(access_key_id, info.secret),
            )
            await self.generations.fill(ticket, name, _encode(sealed))
        return info

    # -- invalidations (after the commit, before the reply) -------------------------------

    async def bucket_changed(self, bucket: str) -> None:
        await self.generations.bump(_bucket_scope(bucket))

    async def keys_changed(self) -> None:
        await self.generations.bump(KEYS_SCOPE)

    async def everything_changed(self) -> None:
        await self.generations.bump_all()
