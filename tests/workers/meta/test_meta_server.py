"""serve_meta end to end over a real Unix socket, driven through protocol.channel on both
anyio backends: every request message, error replies, and connection isolation."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from protocol.base import Done, ErrorReply
from protocol.channel import Channel, connect_unix
from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.lifecycle import BootMeta, DatabaseSettings, GCSettings
from protocol.meta import (
    AccessKeyInfo,
    BucketInfo,
    BucketList,
    CommitObject,
    CreateBucket,
    CreateKey,
    CreateUser,
    DeleteBucket,
    DeleteObject,
    DeleteObjects,
    DeleteUser,
    GCReport,
    GetAccessKey,
    GetObjectInfo,
    HeadBucket,
    KeyList,
    ListBuckets,
    ListKeys,
    ListObjects,
    ListUsers,
    ObjectDeleted,
    ObjectInfo,
    ObjectList,
    ObjectsDeleted,
    Ping,
    Pong,
    PutBucketAcl,
    RevokeKey,
    RunGC,
    RunScrub,
    ScrubReport,
    UserInfo,
    UserList,
)
from tests.workers.meta.meta_support import MASTER_KEY, etag_of, write_blob
from workers.meta.server import serve_meta

pytestmark = pytest.mark.anyio


@pytest.fixture
async def boot(tmp_path: Path) -> AsyncIterator[BootMeta]:
    socket_path = tmp_path / "meta.sock"
    # A stale socket left by a crashed predecessor: serve_meta must replace it.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(socket_path))
    stale.close()
    yield BootMeta(
        socket_path=str(socket_path),
        base_path=str(tmp_path / "data"),
        database=DatabaseSettings(),
        master_key=MASTER_KEY,
        gc=GCSettings(enabled=True, interval=3600.0),
    )


async def test_every_request_over_the_socket(boot: BootMeta) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        assert stat.S_IMODE(os.stat(boot.socket_path).st_mode) == 0o600
        chan = await connect_unix(boot.socket_path)

        user = await chan.request(CreateUser(rid="r1", name="alice"), UserInfo)
        assert user.rid == "r1"
        assert user.name == "alice"
        key = await chan.request(CreateKey(rid="r2", user="alice"), AccessKeyInfo)
        assert key.rid == "r2"
        assert len(key.secret) == 40
        got = await chan.request(GetAccessKey(access_key_id=key.access_key_id), AccessKeyInfo)
        assert got.secret == key.secret
        keys = await chan.request(ListKeys(user="alice"), KeyList)
        assert [k.secret for k in keys.keys] == [""]
        users = await chan.request(ListUsers(), UserList)
        assert [(u.name, u.keys) for u in users.users] == [("alice", 1)]

        me = user.user_id
        bucket = await chan.request(CreateBucket(principal=me, bucket="alpha"), BucketInfo)
        assert bucket.owner_name == "alice"
        await chan.request(PutBucketAcl(principal=me, bucket="alpha", acl="public-read"), Done)
        head = await chan.request(HeadBucket(principal=None, bucket="alpha"), BucketInfo)
        assert head.acl == "public-read"
        listed = await chan.request(ListBuckets(principal=me), BucketList)
        assert [b.name for b in listed.buckets] == ["alpha"]

        ref = write_blob(boot.base_path, b"body")
        commit = CommitObject(
            rid="r3",
            principal=me,
            bucket="alpha",
            key="dir/k",
            size=4,
            etag=etag_of(b"body"),
            blobs=[ref],
            user_meta={"a": "b"},
        )
        info = await chan.request(commit, ObjectInfo)
        assert info.rid == "r3"
        assert info.user_meta == {"a": "b"}
        fetched = await chan.request(
            GetObjectInfo(principal=None, bucket="alpha", key="dir/k"), ObjectInfo
        )
        assert fetched.etag == etag_of(b"body")
        page = await chan.request(
            ListObjects(principal=None, bucket="alpha", delimiter="/"), ObjectList
        )
        assert page.common_prefixes == ["dir/"]
        deleted = await chan.request(
            DeleteObjects(principal=me, bucket="alpha", keys=["dir/k", "none"]), ObjectsDeleted
        )
        assert [d.key for d in deleted.deleted] == ["dir/k", "none"]
        one = await chan.request(DeleteObject(principal=me, bucket="alpha", key="x"), ObjectDeleted)
        assert one.key == "x"

        pong = await chan.request(Ping(rid="p"), Pong)
        assert pong.database
        assert pong.rid == "p"
        report = await chan.request(RunGC(grace_period=0.0), GCReport)
        assert report.deleted == 1
        assert not await anyio.Path(blob_path(boot.base_path, ref.sha256)).exists()
        assert not report.dry_run
        scrub = await chan.request(RunScrub(), ScrubReport)
        assert scrub.corrupt == []

        await chan.request(DeleteBucket(principal=me, bucket="alpha"), Done)
        await chan.request(RevokeKey(access_key_id=key.access_key_id), Done)
        await chan.request(DeleteUser(name="alice"), Done)
        assert (await chan.request(ListUsers(), UserList)).users == []
        tg.cancel_scope.cancel()
    # Clients close after the server stopped: on asyncio, anyio can report a benign
    # InvalidStateError when a cancelled receive and the peer's EOF land in one loop turn.
    await chan.aclose()
    assert not await anyio.Path(boot.socket_path).exists()


async def test_errors_keep_the_connection_serving(boot: BootMeta) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        chan = await connect_unix(boot.socket_path)
        await chan.send(GetObjectInfo(rid="e1", principal=None, bucket="nope", key="k"))
        reply = await chan.receive()
        assert isinstance(reply, ErrorReply)
        assert (reply.rid, reply.code) == ("e1", "NoSuchBucket")
        with pytest.raises(RemoteError) as exc:
            await chan.request(CreateUser(name="bad name"), UserInfo)
        assert exc.value.error_code == "InvalidUserName"
        # An unexpected exception inside the store becomes InternalError, with the rid.
        me = (await chan.request(CreateUser(name="alice"), UserInfo)).user_id
        await chan.request(CreateBucket(principal=me, bucket="alpha"), BucketInfo)
        ref = write_blob(boot.base_path, b"x")
        commit = CommitObject(principal=me, bucket="alpha", key="k", size=1, etag="e", blobs=[ref])
        await chan.request(commit, ObjectInfo)
        db = sqlite3.connect(os.path.join(boot.base_path, "meta.db"), timeout=30)
        db.execute("UPDATE objects SET blobs = 'not json' WHERE key = 'k'")
        db.commit()
        db.close()
        await chan.send(GetObjectInfo(rid="e2", principal=me, bucket="alpha", key="k"))
        reply = await chan.receive()
        assert isinstance(reply, ErrorReply)
        assert (reply.rid, reply.code) == ("e2", "InternalError")
        assert (await chan.request(Ping(), Pong)).database
        tg.cancel_scope.cancel()
    await chan.aclose()


async def test_a_broken_peer_ends_only_its_connection(boot: BootMeta) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        good = await connect_unix(boot.socket_path)
        assert (await good.request(Ping(), Pong)).database

        # Garbage framing: the server drops that connection.
        raw = await anyio.connect_unix(boot.socket_path)
        await raw.send(b"this is not a frame header")
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await raw.receive()
        await raw.aclose()

        # A message the meta process does not serve: an error reply, then the drop.
        odd: Channel = await connect_unix(boot.socket_path)
        await odd.send(Done(rid="d1"))
        reply = await odd.receive()
        assert isinstance(reply, ErrorReply)
        assert (reply.rid, reply.code) == ("d1", "ProtocolError")
        with pytest.raises(RemoteError):
            await odd.receive()
        await odd.aclose()

        # A peer that vanishes mid-conversation.
        gone = await connect_unix(boot.socket_path)
        await gone.send(ListUsers())
        await gone.aclose()

        assert (await good.request(Ping(), Pong)).database
        tg.cancel_scope.cancel()
    await good.aclose()
