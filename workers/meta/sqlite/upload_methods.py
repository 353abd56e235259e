"""The multipart-upload methods of SqliteStore (contract: workers/meta/store_uploads.py):
writes go through the group-commit writer, listings through the reader pool."""

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
from workers.meta.ids import Clock
from workers.meta.sqlite import complete, multipart, upload_listing
from workers.meta.sqlite.connection import ReaderPool
from workers.meta.sqlite.writer import Writer


class UploadMethods:
    # Set by SqliteStore.__init__.
    _base: str
    _clock: Clock
    _readers: ReaderPool
    _writer: Writer

    async def create_multipart_upload(self, req: CreateMultipartUpload) -> UploadCreated:
        now = time.time()
        return await self._writer.submit(lambda c: multipart.create(c, req, now, self._clock))

    async def register_part(self, req: RegisterPart) -> PartRegistered:
        now = time.time()
        result = await self._writer.submit(lambda c: multipart.register(c, self._base, req, now))
        assert isinstance(result, PartRegistered)  # the writer raised a Refused's error
        return result

    async def list_parts(self, req: ListParts) -> PartList:
        return await self._readers.run(lambda c: multipart.list_parts(c, req))

    async def complete_multipart_upload(self, req: CompleteMultipartUpload) -> ObjectInfo:
        now = time.time()
        return await self._writer.submit(
            lambda c: complete.complete(c, self._base, req, now, self._clock)
        )

    async def abort_multipart_upload(
        self, principal: str | None, bucket: str, key: str, upload_id: str
    ) -> None:
        now = time.time()
        await self._writer.submit(
            lambda c: multipart.abort(
                c, principal=principal, bucket=bucket, key=key, upload_id=upload_id, now=now
            )
        )

    async def list_multipart_uploads(self, req: ListMultipartUploads) -> UploadList:
        return await self._readers.run(lambda c: upload_listing.list_uploads(c, req))
