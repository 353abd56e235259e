"""serve_meta over a real Unix socket on both anyio backends: the versioning and multipart
messages, error replies carrying `header:` details, and RunGC applying BootMeta's
multipart expiration."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from protocol.base import Done
from protocol.channel import Channel, connect_unix
from protocol.errors import RemoteError
from protocol.lifecycle import BootMeta, DatabaseSettings, GCSettings
from protocol.meta import (
    AbortMultipartUpload,
    BucketInfo,
    CommitObject,
    CompletedPart,
    CompleteMultipartUpload,
    CreateBucket,
    CreateMultipartUpload,
    CreateUser,
    DeleteObject,
    DeleteObjects,
    GCReport,
    GetObjectInfo,
    HeadBucket,
    ListMultipartUploads,
    ListObjectVersions,
    ListParts,
    ObjectDeleted,
    ObjectInfo,
    ObjectsDeleted,
    PartList,
    PartRegistered,
    PutBucketVersioning,
    RegisterPart,
    RunGC,
    UploadCreated,
    UploadList,
    UserInfo,
    VersionList,
)
from tests.workers.meta.meta_support import MASTER_KEY, etag_of, multipart_etag, write_blob
from workers.meta.server import serve_meta

pytestmark = pytest.mark.anyio


@pytest.fixture
async def boot(tmp_path: Path) -> AsyncIterator[BootMeta]:
    yield BootMeta(
        socket_path=str(tmp_path / "meta.sock"),
        base_path=str(tmp_path / "data"),
        database=DatabaseSettings(),
        master_key=MASTER_KEY,
        gc=GCSettings(enabled=True, interval=3600.0),
        multipart_expiration=3600.0,
    )


async def failure(chan: Channel, msg: object) -> RemoteError:
    with pytest.raises(RemoteError) as exc:
        await chan.request(msg, ObjectInfo)  # type: ignore[arg-type]
    return exc.value


async def test_versioning_messages(boot: BootMeta) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        chan = await connect_unix(boot.socket_path)
        me = (await chan.request(CreateUser(name="alice"), UserInfo)).user_id
        await chan.request(CreateBucket(principal=me, bucket="alpha"), BucketInfo)
        put = PutBucketVersioning(rid="v1", principal=me, bucket="alpha", status="Enabled")
        assert (await chan.request(put, Done)).rid == "v1"
        head = await chan.request(HeadBucket(principal=me, bucket="alpha"), BucketInfo)
        assert head.versioning == "Enabled"
        bad = await failure(chan, PutBucketVersioning(principal=me, bucket="alpha", status="On"))
        assert bad.error_code == "MalformedXML"

        ref = write_blob(boot.base_path, b"v1")
        commit = CommitObject(
            principal=me, bucket="alpha", key="k", size=2, etag=etag_of(b"v1"), blobs=[ref]
        )
        first = await chan.request(commit, ObjectInfo)
        assert first.version_id
        marker = await chan.request(
            DeleteObject(principal=me, bucket="alpha", key="k"), ObjectDeleted
        )
        assert marker.delete_marker and marker.version_id
        hidden = await failure(chan, GetObjectInfo(principal=me, bucket="alpha", key="k"))
        assert hidden.error_code == "NoSuchKey"
        assert hidden.details == {
            "header:x-amz-delete-marker": "true",
            "header:x-amz-version-id": marker.version_id,
        }
        by_id = await failure(
            chan, GetObjectInfo(principal=me, bucket="alpha", key="k", version_id=marker.version_id)
        )
        assert by_id.error_code == "MethodNotAllowed"
        assert by_id.details["header:Last-Modified"].endswith(" GMT")

        versions = await chan.request(ListObjectVersions(principal=me, bucket="alpha"), VersionList)
        assert [(v.version_id, v.is_latest, v.delete_marker) for v in versions.versions] == [
            (marker.version_id, True, True),
            (first.version_id, False, False),
        ]
        deleted = await chan.request(
            DeleteObjects(
                principal=me,
                bucket="alpha",
                keys=["k", "k"],
                version_ids=[marker.version_id, first.version_id],
            ),
            ObjectsDeleted,
        )
        assert [(d.version_id, d.delete_marker) for d in deleted.deleted] == [
            (marker.version_id, True),
            (first.version_id, False),
        ]
        empty = await chan.request(ListObjectVersions(principal=me, bucket="alpha"), VersionList)
        assert empty.versions == []
        tg.cancel_scope.cancel()
    await chan.aclose()


async def test_multipart_messages_and_gc_expiry(boot: BootMeta) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        chan = await connect_unix(boot.socket_path)
        me = (await chan.request(CreateUser(name="alice"), UserInfo)).user_id
        await chan.request(CreateBucket(principal=me, bucket="alpha"), BucketInfo)

        async def create(key: str) -> str:
            msg = CreateMultipartUpload(principal=me, bucket="alpha", key=key)
            return (await chan.request(msg, UploadCreated)).upload_id

        async def register(key: str, upload_id: str, data: bytes) -> str:
            ref = write_blob(boot.base_path, data)
            msg = RegisterPart(
                principal=me, bucket="alpha", key=key, upload_id=upload_id, part_number=1, blob=ref
            )
            return (await chan.request(msg, PartRegistered)).etag

        done = await create("done")
        etag = await register("done", done, b"completed body")
        parts = await chan.request(
            ListParts(principal=me, bucket="alpha", key="done", upload_id=done), PartList
        )
        assert [(p.part_number, p.etag) for p in parts.parts] == [(1, etag)]
        info = await chan.request(
            CompleteMultipartUpload(
                principal=me,
                bucket="alpha",
                key="done",
                upload_id=done,
                parts=[CompletedPart(part_number=1, etag=etag)],
            ),
            ObjectInfo,
        )
        assert info.etag == multipart_etag([b"completed body"])
        aborted = await create("aborted")
        await register("aborted", aborted, b"aborted body")
        abort = AbortMultipartUpload(principal=me, bucket="alpha", key="aborted", upload_id=aborted)
        await chan.request(abort, Done)
        gone = await failure(chan, abort)
        assert gone.error_code == "NoSuchUpload"

        stale = await create("stale")
        await register("stale", stale, b"stale body")
        kept = await create("kept")
        listed = await chan.request(ListMultipartUploads(principal=me, bucket="alpha"), UploadList)
        assert [u.key for u in listed.uploads] == ["kept", "stale"]
        # An upload initiated two hours ago is past BootMeta.multipart_expiration (an hour).
        db = sqlite3.connect(os.path.join(boot.base_path, "meta.db"), timeout=30)
        db.execute(
            "UPDATE uploads SET initiated = ? WHERE upload_id = ?", (time.time() - 7200, stale)
        )
        db.commit()
        db.close()
        await chan.request(RunGC(), GCReport)
        listed = await chan.request(ListMultipartUploads(principal=me, bucket="alpha"), UploadList)
        assert [u.upload_id for u in listed.uploads] == [kept]
        tg.cancel_scope.cancel()
    await chan.aclose()
