"""`PostgresStore`: the PostgreSQL implementation of `MetaStore` (see workers/meta/store.py for
each method's contract). Several meta processes on several nodes may share one database.

Every write is one READ COMMITTED transaction (db.py) that takes, in the round trip of its
BEGIN, the advisory locks of the keys it writes and, shared, of the blobs it may create
(locks.py), then row locks on what it reads to decide: so conditional writes, completions,
deletes and GC are atomic across nodes, while commits of different keys do not queue behind
each other's COMMIT, even when they reference the same blob (the reference ledger, blobs.py
and fold.py; only the first commits of a brand-new blob wait for the one creating its row).
Reads run in one read-only snapshot each. A commit is six round trips: BEGIN and locks, one
read of everything it decides on, one write statement, COMMIT (objects.py, versions.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio

from protocol.errors import RemoteError
from protocol.lifecycle import DatabaseSettings
from protocol.meta import (
    AccessKeyInfo,
    BucketInfo,
    BucketList,
    CommitObject,
    KeyList,
    ObjectDeleted,
    ObjectInfo,
    ObjectList,
    ObjectsDeleted,
    Pong,
    UserInfo,
    UserList,
    VersionList,
)
from workers.meta import blob_refs, engine_rules, ids, rules
from workers.meta.credentials import SecretBox
from workers.meta.engine_rules import Refused
from workers.meta.ids import Clock
from workers.meta.postgres import (
    blobs,
    buckets,
    fold,
    listing,
    migrate,
    multipart,
    objects,
    users,
)
from workers.meta.postgres.db import Conn, Database
from workers.meta.postgres.locks import Locks
from workers.meta.postgres.pool import CONNECT_TIMEOUT, open_pool, target
from workers.meta.postgres.upload_methods import UploadMethods
from workers.meta.store import (
    MAX_LIST_KEYS,
    BlobRow,
    MetaStats,
    MigrationStatus,
    QuarantineBlob,
    RemoveLeaked,
    UnlinkBlobs,
)

# Bulk deletes in flight per process: each holds up to 1,000 key locks in PostgreSQL's
# shared lock table until it commits (locks.py).
BULK_DELETES = 2


class PostgresStore(UploadMethods):
    def __init__(self, db: Database, base_path: str, master_key: bytes, clock: Clock) -> None:
        self._db = db
        self._base = base_path
        self._clock = clock
        self._box = SecretBox(master_key)
        self._stats = db.stats
        self._rows_read = 0
        self._bulk = anyio.CapacityLimiter(BULK_DELETES)

    @property
    def base_path(self) -> str:
        return self._base

    @property
    def stats(self) -> MetaStats:
        return self._stats

    @property
    def listing_rows_read(self) -> int:
        return self._rows_read

    @property
    def database(self) -> Database:
        return self._db

    async def aclose(self) -> None:
        await self._db.close()

    async def migration_status(self) -> list[MigrationStatus]:
        return await self._db.read(migrate.status)

    async def ping(self) -> Pong:
        detail = {"driver": "postgres", "target": self._db.target}
        try:
            with anyio.fail_after(CONNECT_TIMEOUT + 1):
                applied = await self._db.read(
                    lambda c: c.fetchval("SELECT COUNT(*) FROM schema_migrations")
                )
        except (RemoteError, TimeoutError) as exc:
            return Pong(database=False, detail={**detail, "error": str(exc)})
        return Pong(database=True, detail={**detail, "migrations": str(applied)})

    # -- buckets -------------------------------------------------------------------------

    async def create_bucket(
        self, principal: str | None, bucket: str, region: str = "us-east-1", acl: str = "private"
    ) -> BucketInfo:
        now = time.time()
        return await self._db.write(
            lambda c: buckets.create(
                c, principal=principal, bucket=bucket, region=region, acl=acl, now=now
            )
        )

    async def delete_bucket(self, principal: str | None, bucket: str) -> None:
        now = time.time()

        async def op(conn: Conn) -> None:
            await buckets.check_deletable(conn, principal, bucket)
            await multipart.purge_bucket(conn, bucket, now)
            await buckets.remove(conn, bucket)

        await self._db.write(op)

    async def head_bucket(
        self, principal: str | None, bucket: str, *, write: bool = False
    ) -> BucketInfo:
        need: rules.Access = "write" if write else "read"
        return await self._db.read(lambda c: buckets.authorize(c, principal, bucket, need))

    async def get_bucket_acl(self, principal: str | None, bucket: str) -> BucketInfo:
        return await self._db.read(lambda c: buckets.authorize(c, principal, bucket, "owner"))

    async def list_buckets(self, principal: str | None) -> BucketList:
        return await self._db.read(lambda c: buckets.list_for(c, principal))

    async def put_bucket_acl(self, principal: str | None, bucket: str, acl: str) -> None:
        await self._db.write(lambda c: buckets.put_acl(c, principal, bucket, acl))

    # -- objects -------------------------------------------------------------------------

    async def commit_object(self, req: CommitObject) -> ObjectInfo:
        for ref in req.blobs:
            rules.check_digest(ref.sha256)  # before anything builds a lock id or a path
        blob_refs.tally(req.blobs)
        now = time.time()

        async def op(conn: Conn) -> ObjectInfo | Refused:
            return await objects.commit(conn, self._base, req, now, self._clock)

        locks = Locks.of(req.bucket, [req.key], [ref.sha256 for ref in req.blobs])
        return await self._db.write(op, locks)

    async def get_object_info(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo:
        return await self._db.read(
            lambda c: objects.get_info(c, principal, bucket, key, version_id)
        )

    async def delete_object(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectDeleted:
        now = time.time()
        return await self._db.write(
            lambda c: objects.delete(
                c,
                principal=principal,
                bucket=bucket,
                key=key,
                version_id=version_id,
                now=now,
                clock=self._clock,
            ),
            Locks.of(bucket, [key]),
        )

    async def delete_objects(
        self,
        principal: str | None,
        bucket: str,
        keys: list[str],
        version_ids: list[str | None] | None = None,
    ) -> ObjectsDeleted:
        keys, versions = list(keys), list(version_ids or [])
        engine_rules.check_delete_request(keys, versions)
        now = time.time()
        async with self._bulk:
            return await self._db.write(
                lambda c: objects.delete_many(
                    c, principal, bucket, keys, versions, now=now, clock=self._clock
                ),
                Locks.of(bucket, keys),
            )

    async def list_objects(
        self,
        principal: str | None,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        after: str = "",
        max_keys: int = MAX_LIST_KEYS,
    ) -> ObjectList:
        return await self._db.read(
            partial(
                listing.list_objects,
                count_rows=self._count_rows,
                principal=principal,
                bucket=bucket,
                prefix=prefix,
                delimiter=delimiter,
                after=after,
                max_keys=max_keys,
            )
        )

    def _count_rows(self, rows: int) -> None:
        self._rows_read += rows  # one event loop: no lock needed

    # -- versioning ----------------------------------------------------------------------

    async def put_bucket_versioning(self, principal: str | None, bucket: str, status: str) -> None:
        await self._db.write(lambda c: buckets.put_versioning(c, principal, bucket, status))

    async def list_object_versions(
        self,
        principal: str | None,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = MAX_LIST_KEYS,
    ) -> VersionList:
        return await self._db.read(
            partial(
                listing.list_versions,
                count_rows=self._count_rows,
                principal=principal,
                bucket=bucket,
                prefix=prefix,
                delimiter=delimiter,
                key_marker=key_marker,
                version_id_marker=version_id_marker,
                max_keys=max_keys,
            )
        )

    # -- users and keys -----------------------------------------------------------------

    async def create_user(self, name: str) -> UserInfo:
        now = time.time()
        return await self._db.write(lambda c: users.create_user(c, name, now))

    async def list_users(self) -> UserList:
        return await self._db.read(users.list_users)

    async def delete_user(self, name: str) -> None:
        await self._db.write(lambda c: users.delete_user(c, name))

    async def create_key(self, user: str) -> AccessKeyInfo:
        now = time.time()
        return await self._db.write(lambda c: users.create_key(c, self._box, user, now))

    async def get_access_key(self, access_key_id: str) -> AccessKeyInfo:
        return await self._db.read(lambda c: users.get_key(c, self._box, access_key_id))

    async def list_keys(self, user: str | None = None) -> KeyList:
        return await self._db.read(lambda c: users.list_keys(c, user))

    async def revoke_key(self, access_key_id: str) -> None:
        await self._db.write(lambda c: users.revoke_key(c, access_key_id))

    # -- maintenance ---------------------------------------------------------------------

    async def orphaned_blobs(self, older_than: float, limit: int) -> list[BlobRow]:
        # Exact counts and orphan times are in the rows once the ledger is folded.
        await fold.fold_pending(self._db, wait=True)
        return await self._db.read(lambda c: blobs.orphaned(c, older_than, limit))

    async def drop_orphans(
        self, sha256s: list[str], older_than: float, unlink: UnlinkBlobs
    ) -> list[BlobRow]:
        shas = list(sha256s)
        for sha256 in shas:
            rules.check_digest(sha256)
        return await self._db.write(lambda c: blobs.drop_orphans(c, shas, older_than, unlink))

    async def blob_page(self, after: str, limit: int) -> list[BlobRow]:
        return await self._db.read(lambda c: blobs.page(c, after, limit))

    async def quarantine_blob(self, sha256: str, move: QuarantineBlob) -> int:
        rules.check_digest(sha256)
        return await self._db.write(lambda c: blobs.quarantine(c, sha256, move))

    async def expire_uploads(
        self, initiated_before: float, completed_before: float, limit: int
    ) -> int:
        now = time.time()
        return await self._db.write(
            lambda c: multipart.expire(c, initiated_before, completed_before, limit, now)
        )

    async def unknown_blobs(self, sha256s: list[str]) -> list[str]:
        return await self._db.read(lambda c: blobs.unknown(c, list(sha256s)))

    async def drop_leaked(self, sha256s: list[str], remove: RemoveLeaked) -> list[tuple[str, int]]:
        shas = list(sha256s)
        for sha256 in shas:
            rules.check_digest(sha256)
        return await self._db.write(lambda c: blobs.drop_leaked(c, shas, remove), Locks.sweep(shas))

    async def gc_state(self, name: str) -> str:
        return await self._db.read(lambda c: blobs.get_state(c, name))

    async def set_gc_state(self, name: str, value: str) -> None:
        await self._db.write(lambda c: blobs.set_state(c, name, value))


async def _last_stamp(conn: Conn) -> int:
    """The newest upload id's stamp, so that a clock running behind after a restart (or a
    stepped-back system clock) still orders new uploads after the old ones. Versions need
    no such floor: each is stamped after its key's latest (versions.next_stamp), which also
    spares a scan of every object row at startup."""
    newest = await conn.fetchval("SELECT MAX(upload_id) FROM uploads")
    return ids.decode(newest[: ids.STAMP_CHARS]) if newest and ids.is_upload_id(newest) else 0


@asynccontextmanager
async def open_postgres_store(
    base_path: str,
    settings: DatabaseSettings,
    master_key: bytes,
    *,
    schema: str | None = None,
    application_name: str = "alexanderd-meta",
) -> AsyncIterator[PostgresStore]:
    """Connect, apply pending migrations, yield the store, close the pool. `schema` (tests)
    puts every table in that schema, created if needed, via SET LOCAL search_path."""
    pool = await open_pool(settings, application_name)
    db = Database(pool, schema, target(settings))
    try:
        await migrate.apply(db, schema)
        clock = Clock()
        clock.seed(await db.read(_last_stamp))
        async with anyio.create_task_group() as tg:
            await tg.start(fold.serve_fold, db)
            try:
                yield PostgresStore(db, base_path, master_key, clock)
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await db.close()
