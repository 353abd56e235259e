"""The blob worker over a real Unix socket, on both anyio backends."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from protocol.base import Done
from protocol.blob import CHECKSUM_ALGORITHMS, BlobData, BlobStored, EndBlob, PutBlob, ReadBlob
from protocol.channel import Channel, connect_unix
from protocol.errors import ProtocolError, RemoteError, Unavailable
from protocol.frame import HEADER_SIZE
from protocol.layout import tmp_prefix
from protocol.lifecycle import BootBlob
from tests.workers.blob.serving import Served, serving
from tests.workers.blob.support import (
    NODE,
    MiB,
    assert_closed_by_server,
    blob_files,
    body,
    botocore_checksums,
    client_put,
    client_read,
    close_gracefully,
    open_sockets,
    stored_path,
    temp_files,
    wait_until,
)
from workers.blob.server import serve_blob

pytestmark = pytest.mark.anyio


async def test_put_then_read(base: Path) -> None:
    data = body(3 * MiB + 7)
    async with serving(base) as served:
        chan = await served.connect()
        stored = await client_put(
            chan,
            data,
            expected_size=len(data),
            checksum_algorithms=list(CHECKSUM_ALGORITHMS),
            expected_checksums={"crc32": botocore_checksums(data)["crc32"]},
        )
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert stored.md5 == hashlib.md5(data).hexdigest()
        assert stored.checksums == botocore_checksums(data)
        assert await client_read(chan, stored.sha256, expected_size=len(data)) == data
        middle = await client_read(chan, stored.sha256, offset=MiB - 1, length=MiB + 2)
        assert middle == data[MiB - 1 : 2 * MiB + 1]
        assert await client_read(chan, stored.sha256, offset=5, length=0) == b""
        small = await client_put(chan, b"tiny", chunk=1)
        assert await client_read(chan, small.sha256) == b"tiny"
        await close_gracefully(chan)
    assert temp_files(base) == []


async def test_socket_is_private_stale_socket_replaced_and_removed_on_exit(base: Path) -> None:
    run_dir = tempfile.mkdtemp(prefix="axb-", dir="/tmp")
    try:
        path = f"{run_dir}/blob.sock"
        stale = socket.socket(socket.AF_UNIX)  # left behind by a crashed worker
        stale.bind(path)
        stale.close()
        boot = BootBlob(index=0, socket_path=path, base_path=str(base))
        async with anyio.create_task_group() as tg:
            await tg.start(functools.partial(serve_blob, boot, node=NODE))
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            chan = await connect_unix(path)
            assert (await client_put(chan, b"hello")).size == 5
            await close_gracefully(chan)
            tg.cancel_scope.cancel()
        assert not os.path.exists(path)  # noqa: ASYNC240
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


async def test_verification_error_keeps_the_channel_in_sync(base: Path) -> None:
    data = body(2 * MiB + 1)
    async with serving(base) as served:
        chan = await served.connect()
        cases: list[tuple[dict[str, Any], str]] = [
            ({"content_md5": "AAAAAAAAAAAAAAAAAAAAAA=="}, "BadDigest"),
            ({"content_md5": "nope"}, "InvalidDigest"),  # rejected before the body
            ({"expected_size": MiB}, "IncompleteBody"),  # rejected mid-body
            ({"content_sha256": "0" * 64}, "XAmzContentSHA256Mismatch"),
        ]
        for fields, code in cases:
            with pytest.raises(RemoteError) as info:
                await client_put(chan, data, rid=f"rid-{code}", **fields)
            assert info.value.error_code == code
        with pytest.raises(RemoteError) as info:
            await client_put(
                chan,
                data,
                checksum_algorithms=["sha1"],
                trailer={"sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
            )
        assert info.value.error_code == "BadDigest"
        assert info.value.message == "The SHA1 you specified did not match the calculated checksum."
        assert temp_files(base) == [] and blob_files(base) == []
        stored = await client_put(chan, data)  # same channel, still in sync
        assert await client_read(chan, stored.sha256) == data
        await close_gracefully(chan)


async def test_error_reply_echoes_the_request_id(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        await chan.send(PutBlob(rid="abc-123", content_md5="bad"))
        await chan.send_data(b"x")
        await chan.send_end()
        await chan.send(EndBlob(rid="abc-123"))
        reply = await chan.receive()
        assert reply.rid == "abc-123"
        await chan.send(ReadBlob(rid="def-456", sha256="cd" * 32))
        reply = await chan.receive()
        assert reply.rid == "def-456"
        await close_gracefully(chan)


async def test_read_errors_come_before_any_data(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        stored = await client_put(chan, b"0123456789")
        stored_path(base, "ef" * 32).mkdir(parents=True)
        for fields, code in [
            ({"sha256": "ab" * 32}, "BlobMissing"),
            ({"sha256": stored.sha256, "expected_size": 11}, "BlobCorrupt"),
            ({"sha256": stored.sha256, "offset": 11}, "InvalidRange"),
            ({"sha256": "not-a-digest"}, "ProtocolError"),
            ({"sha256": "ef" * 32}, "InternalError"),  # a directory where the blob belongs
        ]:
            await chan.send(ReadBlob(rid="r", **fields))  # type: ignore[arg-type]
            with pytest.raises(RemoteError) as info:
                await chan.receive_reply(BlobData)
            assert info.value.error_code == code
        assert await client_read(chan, stored.sha256, offset=2, length=3) == b"234"
        await close_gracefully(chan)


async def test_unknown_message_gets_protocol_error_and_close(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        with pytest.raises(ProtocolError, match="does not handle Done"):
            await chan.request(Done(rid="x"), BlobStored)
        await assert_closed_by_server(chan)
        other = await served.connect()  # the server itself is fine
        assert (await client_put(other, b"ok")).size == 2
        await close_gracefully(other)


async def test_garbage_frame_gets_protocol_error_and_close(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        await chan.stream.send(b"GARBAGE!" + b"\0" * HEADER_SIZE)
        with pytest.raises(ProtocolError, match="magic"):
            await chan.receive_reply(BlobStored)
        await assert_closed_by_server(chan)


async def test_missing_endblob_closes_the_channel(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        await chan.send(PutBlob(rid="p"))
        await chan.send_data(body(MiB + 1))
        await chan.send_end()
        await chan.send(ReadBlob(rid="p", sha256="ab" * 32))  # not the EndBlob it owes
        with pytest.raises(ProtocolError, match="expected EndBlob"):
            await chan.receive_reply(BlobStored)
        await assert_closed_by_server(chan)
        assert temp_files(base) == [] and blob_files(base) == []


async def test_message_instead_of_data_closes_the_channel(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        await chan.send(PutBlob(rid="p"))
        await chan.send_data(body(100))
        await chan.send(EndBlob(rid="p"))  # without the END frame first
        with pytest.raises(ProtocolError, match="expected a data frame"):
            await chan.receive_reply(BlobStored)
        await assert_closed_by_server(chan)
        assert temp_files(base) == [] and blob_files(base) == []


async def test_client_disconnecting_mid_upload(base: Path) -> None:
    async with serving(base) as served:
        chan = await served.connect()
        await chan.send(PutBlob(rid="gone", expected_size=8 * MiB))
        for _ in range(3):
            await chan.send_data(body(MiB))
        await wait_until(lambda: len(temp_files(base)) == 1, "the upload's temp file appears")
        await chan.aclose()
        await wait_until(lambda: temp_files(base) == [], "the temp file is removed")
        assert blob_files(base) == []
        fresh = await served.connect()
        stored = await client_put(fresh, b"after")
        assert await client_read(fresh, stored.sha256) == b"after"
        await close_gracefully(fresh)


async def test_client_disconnecting_mid_read(base: Path) -> None:
    data = body(16 * MiB)
    async with serving(base) as served:
        chan = await served.connect()
        stored = await client_put(chan, data)
        await chan.send(ReadBlob(sha256=stored.sha256))
        await chan.receive_reply(BlobData)
        assert await chan.receive_data() == data[:MiB]
        sockets = open_sockets()
        await chan.aclose()
        # Both ends gone: ours now, the server's once its send failed and it closed.
        await wait_until(lambda: open_sockets() == sockets - 2, "the server closes its end")
        fresh = await served.connect()
        assert await client_read(fresh, stored.sha256, length=10) == data[:10]
        await close_gracefully(fresh)


async def test_truncated_blob_breaks_the_stream_instead_of_ending_short(base: Path) -> None:
    data = body(16 * MiB)
    async with serving(base) as served:
        chan = await served.connect()
        stored = await client_put(chan, data)
        await chan.send(ReadBlob(sha256=stored.sha256, expected_size=len(data)))
        header = await chan.receive_reply(BlobData)
        assert header.length == len(data)
        assert await chan.receive_data() == data[:MiB]
        # The server is now blocked sending piece 2 (the socket buffer is far smaller than
        # a piece) and has read at most piece 3: piece 4 onwards is gone.
        os.truncate(stored_path(base, stored.sha256), 3 * MiB)
        received = MiB
        with pytest.raises((ProtocolError, Unavailable)):
            while (piece := await chan.receive_data()) is not None:
                received += len(piece)
        assert received < len(data)
        fresh = await served.connect()  # the server goes on
        assert (await client_put(fresh, b"next")).size == 4
        await close_gracefully(fresh)


async def test_concurrent_connections(base: Path) -> None:
    datas = [body(MiB + i, seed=i) for i in range(6)]
    results: dict[int, bytes] = {}

    async def one(served: Served, i: int) -> None:
        chan: Channel = await served.connect()
        stored = await client_put(chan, datas[i], chunk=256 * 1024)
        results[i] = await client_read(chan, stored.sha256)
        await close_gracefully(chan)

    async with serving(base) as served, anyio.create_task_group() as tg:
        for i in range(len(datas)):
            tg.start_soon(one, served, i)
    assert results == dict(enumerate(datas))
    assert temp_files(base) == []


async def test_leftover_temp_files_removed_at_start(base: Path) -> None:
    (base / "tmp").mkdir(exist_ok=True)
    (base / "tmp" / f"{tmp_prefix(NODE, 2)}crashed").write_bytes(b"half an upload")
    (base / "tmp" / f"{tmp_prefix(NODE, 1)}busy").write_bytes(b"another worker's upload")
    async with serving(base, index=2):
        assert temp_files(base) == [f"{tmp_prefix(NODE, 1)}busy"]
