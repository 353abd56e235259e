"""The multipart-upload methods of PostgresStore (contract: workers/meta/store_uploads.py)."""

from __future__ import annotations

import time

from protocol.meta import (
    CompleteMultipartUpload,
    CreateMultipartUpload,
    ListMultipartUploads,
    ListParts,
    ObjectInfo,
    PartList,
    PartRegistered,
    RegisterPart,
    UploadCreated,
    UploadList,
)
from workers.meta import blob_refs, rules
from workers.meta.engine_rules import Refused
from workers.meta.ids import Clock
from workers.meta.postgres import complete, listing, multipart
from workers.meta.postgres.db import Conn, Database
from workers.meta.postgres.locks import Locks


class UploadMethods:
    # Set by PostgresStore.__init__.
    _base: str
    _clock: Clock
    _db: Database

    async def create_multipart_upload(self, req: CreateMultipartUpload) -> UploadCreated:
        now = time.time()
        return await self._db.write(lambda c: multipart.create(c, req, now, self._clock))

    async def register_part(self, req: RegisterPart) -> PartRegistered:
        # Checked before anything builds a lock id or a path from it.
        rules.check_digest(req.blob.sha256)
        blob_refs.tally([req.blob])
        now = time.time()

        async def op(conn: Conn) -> PartRegistered | Refused:
            return await multipart.register(conn, self._base, req, now)

        # The blob may get its row here: hold its lock against the leaked-file sweep.
        return await self._db.write(op, Locks.of(req.bucket, [], [req.blob.sha256]))

    async def list_parts(self, req: ListParts) -> PartList:
        return await self._db.read(lambda c: multipart.list_parts(c, req))

    async def complete_multipart_upload(self, req: CompleteMultipartUpload) -> ObjectInfo:
        now = time.time()
        return await self._db.write(
            lambda c: complete.complete(c, self._base, req, now, self._clock),
            Locks.of(req.bucket, [req.key]),
        )

    async def abort_multipart_upload(
        self, principal: str | None, bucket: str, key: str, upload_id: str
    ) -> None:
        now = time.time()
        await self._db.write(
            lambda c: multipart.abort(
                c, principal=principal, bucket=bucket, key=key, upload_id=upload_id, now=now
            )
        )

    async def list_multipart_uploads(self, req: ListMultipartUploads) -> UploadList:
        return await self._db.read(lambda c: listing.list_uploads(c, req))
