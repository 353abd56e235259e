"""The blob-I/O worker's server: accept channels on a Unix socket and answer PutBlob and
ReadBlob on each, one request at a time per channel.

    PutBlob, DATA*, END, EndBlob  ->  BlobStored | ErrorReply
    ReadBlob                      ->  BlobData, DATA*, END | ErrorReply

A PutBlob that fails (a bad declaration, a digest mismatch, a full disk, a body longer than
announced) still has the rest of its frames consumed and discarded, up to and including its
EndBlob, before the ErrorReply is sent: the channel stays in sync and usable. The connection
is closed only when framing itself is lost (ProtocolError), the peer is gone, the peer sent a
message this worker does not handle, or a read failed after BlobData promised its bytes
(closing is then the only way to tell the front the stream is broken).
"""

from __future__ import annotations

import functools
import os
import socket

import anyio
import anyio.abc

from protocol.base import Message
from protocol.blob import BlobData, EndBlob, PutBlob, ReadBlob
from protocol.channel import Channel, adopt
from protocol.errors import ProtocolError, RemoteError, Unavailable
from protocol.lifecycle import BootBlob
from protocol.logs import get_logger
from workers.blob.overlap import overlap
from workers.blob.store import BlobStore
from workers.blob.writer import Upload

log = get_logger(__name__)

# Fronts keep pools of channels and open many at once on start; trio reports a full backlog
# as a successful connect, so the queue must never be the limit.
BACKLOG = 4096
SOCKET_MODE = 0o600


async def serve_blob(
    boot: BootBlob,
    *,
    node: str = socket.gethostname(),
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Prepare the store, listen on boot.socket_path and serve until cancelled."""
    store = BlobStore(boot.base_path, node=node, index=boot.index, fsync=boot.fsync)
    removed = await anyio.to_thread.run_sync(store.prepare)
    if removed:
        log.info("removed leftover temp files", count=removed, prefix=store.tmp_prefix)
    listener = await anyio.create_unix_listener(boot.socket_path, mode=SOCKET_MODE, backlog=BACKLOG)
    inode: int | None = None
    try:
        inode = (await anyio.to_thread.run_sync(os.stat, boot.socket_path)).st_ino
        log.info("listening", socket=boot.socket_path, base_path=boot.base_path, fsync=boot.fsync)
        async with anyio.create_task_group() as tg:
            task_status.started()
            await listener.serve(functools.partial(_serve_connection, store), task_group=tg)
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
            if inode is not None:
                await anyio.to_thread.run_sync(_unlink_own_socket, boot.socket_path, inode)


def _unlink_own_socket(path: str, inode: int) -> None:
    # A successor may already be listening on the same path; leave its socket alone.
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except OSError:
        pass


async def _serve_connection(store: BlobStore, stream: anyio.abc.SocketStream) -> None:
    chan = await adopt(stream)
    try:
        while await _serve_one(store, chan):
            pass
    except Exception:
        # A bug must cost one connection, never the worker and everyone else's requests.
        log.exception("unexpected error serving a channel; closing it")
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await chan.aclose()
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass


async def _serve_one(store: BlobStore, chan: Channel) -> bool:
    """Answer one request; False when the connection must close."""
    try:
        msg = await chan.receive()
    except Unavailable:
        return False  # the peer hung up between requests: the normal end of a channel
    except ProtocolError as exc:
        # Info, not warning: the channel cannot yet tell a clean EOF between requests from
        # a torn frame, and reports both as "closed mid-frame".
        log.info("bad or torn frame from a client; closing the channel", error=exc.message)
        await _try_send_error(chan, exc, "")
        return False
    if isinstance(msg, PutBlob):
        await _handle_put(store, chan, msg)
    elif isinstance(msg, ReadBlob):
        await _handle_read(store, chan, msg)
    else:
        error = ProtocolError(f"the blob worker does not handle {type(msg).__name__}")
        log.warning("unexpected message; closing the channel", type=type(msg).__name__)
        await _try_send_error(chan, error, msg.rid)
        return False
    return not chan.broken


class _Body:
    """Where one upload stands in the channel, so a failed one can be skipped to its end."""

    def __init__(self, chan: Channel) -> None:
        self._chan = chan
        self.saw_end = False
        self.end: EndBlob | None = None

    async def next_chunk(self) -> bytes | None:
        chunk = await self._chan.receive_data()
        if chunk is None:
            self.saw_end = True
        return chunk

    async def end_message(self) -> EndBlob:
        msg = await self._chan.receive()
        if not isinstance(msg, EndBlob):
            self._chan.broken = True
            raise ProtocolError(f"expected EndBlob after the body, got {type(msg).__name__}")
        self.end = msg
        return msg

    async def skip_rest(self) -> None:
        while not self.saw_end:
            await self.next_chunk()
        if self.end is None:
            await self.end_message()


async def _handle_put(store: BlobStore, chan: Channel, put: PutBlob) -> None:
    body = _Body(chan)
    try:
        async with Upload(store, put) as upload:
            await upload.receive(body.next_chunk)
            end = await body.end_message()
            stored = await upload.commit(end.trailer_checksums)
    except Exception as exc:
        error = _as_remote(exc, "PutBlob", put.rid)
        if chan.broken:
            log.info("upload abandoned: channel lost", rid=put.rid, error=error.message)
            if isinstance(error, ProtocolError):
                await _try_send_error(chan, error, put.rid)  # tell a confused peer why
            return
        try:
            await body.skip_rest()
        except RemoteError as skip_exc:
            log.info("upload abandoned: channel lost", rid=put.rid, error=skip_exc.message)
            if isinstance(skip_exc, ProtocolError):
                await _try_send_error(chan, skip_exc, put.rid)
            chan.broken = True
            return
        await _try_send_error(chan, error, put.rid)
        return
    await _try_send(chan, stored)


async def _handle_read(store: BlobStore, chan: Channel, req: ReadBlob) -> None:
    announced = False
    try:
        async with store.open_read(req) as blob:
            # The first piece is read before anything is announced, so a failing read is
            # still a clean error; a blob that fits in it goes out in one write.
            piece = await blob.next_piece()
            if piece is None or len(piece) == blob.length:
                announced = True
                await chan.send_small_exchange(
                    BlobData(rid=req.rid, length=blob.length), piece or b""
                )
                return
            await chan.send(BlobData(rid=req.rid, length=blob.length))
            announced = True
            while piece is not None:
                piece = await overlap(blob.next_piece, functools.partial(chan.send_data, piece))
            await chan.send_end()
    except Exception as exc:
        error = _as_remote(exc, "ReadBlob", req.rid)
        if announced:
            # Bytes were promised; fewer must never pass for the whole: break the stream.
            if not chan.broken:
                log.error(
                    "read failed mid-stream; closing the channel", rid=req.rid, error=error.message
                )
            chan.broken = True
            return
        if not chan.broken:
            await _try_send_error(chan, error, req.rid)


def _as_remote(exc: Exception, verb: str, rid: str) -> RemoteError:
    if isinstance(exc, RemoteError):
        return exc
    log.exception("unexpected error", request=verb, rid=rid)
    return RemoteError(f"internal error in the blob worker while handling {verb}")


async def _try_send(chan: Channel, msg: Message) -> None:
    try:
        await chan.send(msg)
    except RemoteError:
        pass  # the channel is marked broken; the connection loop closes it


async def _try_send_error(chan: Channel, error: RemoteError, rid: str) -> None:
    try:
        await chan.send_error(error, rid)
    except RemoteError:
        pass  # as above
