"""`SqliteStore`: the SQLite implementation of `MetaStore` (see workers/meta/store.py for
each method's contract). Writes go through the group-commit writer, reads through the pool."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.to_thread

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
from workers.meta import ids
from workers.meta.credentials import SecretBox
from workers.meta.ids import Clock
from workers.meta.rules import Access
from workers.meta.sqlite import (
    blobs,
    buckets,
    listing,
    migrate,
    multipart,
    objects,
    users,
    version_listing,
)
from workers.meta.sqlite.connection import ReaderPool, check_settings, connect
from workers.meta.sqlite.upload_methods import UploadMethods
from workers.meta.sqlite.writer import Writer
from workers.meta.store import (
    MAX_LIST_KEYS,
    BlobRow,
    MetaStats,
    MigrationStatus,
    QuarantineBlob,
    RemoveLeaked,
    UnlinkBlobs,
)

READERS = 4


class SqliteStore(UploadMethods):
    def __init__(
        self,
        path: str,
        base_path: str,
        settings: DatabaseSettings,
        master_key: bytes,
        writer_conn: sqlite3.Connection,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.path = path
        self._base = base_path
        # Orders versions and uploads; only the writer thread draws from it.
        self._clock = clock or Clock()
        self._box = SecretBox(master_key)
        self._stats = MetaStats()
        self._rows_read = 0
        self._rows_lock = threading.Lock()
        self._readers = ReaderPool(path, settings, READERS)
        self._writer = Writer(writer_conn, self._stats)
        self._closed = False

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
    def writer(self) -> Writer:
        return self._writer

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await anyio.to_thread.run_sync(self._writer.close)
        self._readers.close()

    async def migration_status(self) -> list[MigrationStatus]:
        return await self._readers.run(migrate.status)

    async def ping(self) -> Pong:
        def probe(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0])

        applied = await self._readers.run(probe)
        return Pong(database=True, detail={"driver": "sqlite", "migrations": str(applied)})

    # -- buckets -------------------------------------------------------------------------

    async def create_bucket(
        self, principal: str | None, bucket: str, region: str = "us-east-1", acl: str = "private"
    ) -> BucketInfo:
        now = time.time()
        return await self._writer.submit(
            lambda c: buckets.create(
                c, principal=principal, bucket=bucket, region=region, acl=acl, now=now
            )
        )

    async def delete_bucket(self, principal: str | None, bucket: str) -> None:
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            buckets.check_deletable(conn, principal, bucket)
            multipart.purge_bucket(conn, bucket, now)
            buckets.remove(conn, bucket)

        await self._writer.submit(op)

    async def head_bucket(
        self, principal: str | None, bucket: str, *, write: bool = False
    ) -> BucketInfo:
        need: Access = "write" if write else "read"
        return await self._readers.run(lambda c: buckets.authorize(c, principal, bucket, need))

    async def get_bucket_acl(self, principal: str | None, bucket: str) -> BucketInfo:
        return await self._readers.run(lambda c: buckets.authorize(c, principal, bucket, "owner"))

    async def list_buckets(self, principal: str | None) -> BucketList:
        return await self._readers.run(lambda c: buckets.list_for(c, principal))

    async def put_bucket_acl(self, principal: str | None, bucket: str, acl: str) -> None:
        await self._writer.submit(lambda c: buckets.put_acl(c, principal, bucket, acl))

    # -- objects -------------------------------------------------------------------------

    async def commit_object(self, req: CommitObject) -> ObjectInfo:
        now = time.time()
        result = await self._writer.submit(
            lambda c: objects.commit(c, self._base, req, now, self._clock)
        )
        assert isinstance(result, ObjectInfo)  # the writer raised a Refused's error
        return result

    async def get_object_info(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo:
        return await self._readers.run(
            lambda c: objects.get_info(c, principal, bucket, key, version_id)
        )

    async def delete_object(
        self, principal: str | None, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectDeleted:
        now = time.time()
        return await self._writer.submit(
            lambda c: objects.delete(
                c,
                principal=principal,
                bucket=bucket,
                key=key,
                version_id=version_id,
                now=now,
                clock=self._clock,
            )
        )

    async def delete_objects(
        self,
        principal: str | None,
        bucket: str,
        keys: list[str],
        version_ids: list[str | None] | None = None,
    ) -> ObjectsDeleted:
        now = time.time()
        return await self._writer.submit(
            lambda c: objects.delete_many(
                c,
                principal,
                bucket,
                list(keys),
                list(version_ids or []),
                now=now,
                clock=self._clock,
            )
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
        return await self._readers.run(
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

    # -- versioning ----------------------------------------------------------------------

    async def put_bucket_versioning(self, principal: str | None, bucket: str, status: str) -> None:
        await self._writer.submit(lambda c: buckets.put_versioning(c, principal, bucket, status))

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
        return await self._readers.run(
            partial(
                version_listing.list_versions,
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

    def _count_rows(self, rows: int) -> None:
        with self._rows_lock:
            self._rows_read += rows

    # -- users and keys -----------------------------------------------------------------

    async def create_user(self, name: str) -> UserInfo:
        now = time.time()
        return await self._writer.submit(lambda c: users.create_user(c, name, now))

    async def list_users(self) -> UserList:
        return await self._readers.run(users.list_users)

    async def delete_user(self, name: str) -> None:
        await self._writer.submit(lambda c: users.delete_user(c, name))

    async def create_key(self, user: str) -> AccessKeyInfo:
        now = time.time()
        return await self._writer.submit(lambda c: users.create_key(c, self._box, user, now))

    async def get_access_key(self, access_key_id: str) -> AccessKeyInfo:
        return await self._readers.run(lambda c: users.get_key(c, self._box, access_key_id))

    async def list_keys(self, user: str | None = None) -> KeyList:
        return await self._readers.run(lambda c: users.list_keys(c, user))

    async def revoke_key(self, access_key_id: str) -> None:
        await self._writer.submit(lambda c: users.revoke_key(c, access_key_id))

    # -- maintenance ---------------------------------------------------------------------

    async def orphaned_blobs(self, older_than: float, limit: int) -> list[BlobRow]:
        return await self._readers.run(lambda c: blobs.orphaned(c, older_than, limit))

    async def drop_orphans(
        self, sha256s: list[str], older_than: float, unlink: UnlinkBlobs
    ) -> list[BlobRow]:
        return await self._writer.submit(
            lambda c: blobs.drop_orphans(c, list(sha256s), older_than, unlink)
        )

    async def blob_page(self, after: str, limit: int) -> list[BlobRow]:
        return await self._readers.run(lambda c: blobs.page(c, after, limit))

    async def quarantine_blob(self, sha256: str, move: QuarantineBlob) -> int:
        return await self._writer.submit(lambda c: blobs.quarantine(c, sha256, move))

    async def expire_uploads(
        self, initiated_before: float, completed_before: float, limit: int
    ) -> int:
        now = time.time()
        return await self._writer.submit(
            lambda c: multipart.expire(c, initiated_before, completed_before, limit, now)
        )

    async def unknown_blobs(self, sha256s: list[str]) -> list[str]:
        return await self._readers.run(lambda c: blobs.unknown(c, list(sha256s)))

    async def drop_leaked(self, sha256s: list[str], remove: RemoveLeaked) -> list[tuple[str, int]]:
        return await self._writer.submit(lambda c: blobs.drop_leaked(c, list(sha256s), remove))

    async def gc_state(self, name: str) -> str:
        return await self._readers.run(lambda c: blobs.get_state(c, name))

    async def set_gc_state(self, name: str, value: str) -> None:
        await self._writer.submit(lambda c: blobs.set_state(c, name, value))


def _last_stamp(conn: sqlite3.Connection) -> int:
    """The newest clock stamp stored, so that a clock running behind after a restart (or a
    stepped-back system clock) still orders new versions and uploads after the old ones."""
    seq = conn.execute("SELECT MAX(seq) FROM objects").fetchone()[0] or 0
    newest = conn.execute("SELECT MAX(upload_id) FROM uploads").fetchone()[0]
    upload = ids.decode(newest[: ids.STAMP_CHARS]) if newest and ids.is_upload_id(newest) else 0
    return max(int(seq), upload)


def _open_writer(path: str, settings: DatabaseSettings) -> tuple[sqlite3.Connection, Clock]:
    check_settings(settings)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    conn = connect(path, settings, readonly=False)
    clock = Clock()
    try:
        migrate.apply(conn)
        clock.seed(_last_stamp(conn))
    except BaseException:
        conn.close()
        raise
    return conn, clock


@asynccontextmanager
async def open_sqlite_store(
    path: str, base_path: str, settings: DatabaseSettings, master_key: bytes
) -> AsyncIterator[SqliteStore]:
    """Open (creating if needed) and migrate the database, yield the store, close it."""
    conn, clock = await anyio.to_thread.run_sync(_open_writer, path, settings)
    try:
        store = SqliteStore(path, base_path, settings, master_key, conn, clock=clock)
    except BaseException:
        conn.close()
        raise
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.aclose()
