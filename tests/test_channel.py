"""protocol.channel over real Unix sockets on both anyio backends: framing, EOF semantics,
large frames, flow control and a peer that goes away (on asyncio this is the protocol link,
on trio anyio's socket stream)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from protocol.base import Done, ErrorReply
from protocol.channel import READ_LIMIT, Channel, adopt, channel_from_socket, connect_unix
from protocol.errors import ProtocolError, RemoteError, Unavailable
from protocol.frame import HEADER_SIZE, MAX_PAYLOAD, Kind, pack_header

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),  # meta and blob run it
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    backend: tuple[str, dict[str, bool]] = request.param
    return backend


@asynccontextmanager
async def pair() -> AsyncIterator[tuple[Channel, Channel]]:
    left, right = socket.socketpair()
    a, b = await channel_from_socket(left), await channel_from_socket(right)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


async def test_messages_and_data_round_trip() -> None:
    async def write(a: Channel) -> None:
        await a.send(Done(rid="r1"))
        await a.send_data(b"x" * 3_000_000)  # three DATA frames
        await a.send_end()
        await a.send_small_exchange(Done(rid="r2"), b"tiny", Done(rid="r3"))

    async with pair() as (a, b), anyio.create_task_group() as tg:
        tg.start_soon(write, a)
        assert await b.receive() == Done(rid="r1")
        assert b"".join([piece async for piece in b.iter_data()]) == b"x" * 3_000_000
        assert await b.receive() == Done(rid="r2")
        assert await b.receive_data() == b"tiny"
        assert await b.receive_data() is None
        assert await b.receive_reply(Done) == Done(rid="r3")


async def test_a_frame_larger_than_the_read_limit_arrives_whole() -> None:
    size = min(MAX_PAYLOAD, READ_LIMIT + 3 * 1024 * 1024)
    body = os.urandom(size)
    async with pair() as (a, b), anyio.create_task_group() as tg:
        # One frame bigger than what the reader buffers before pausing: it must resume.
        tg.start_soon(a.stream.send, pack_header(Kind.DATA, size) + body)
        assert await b.receive_data() == body


async def test_a_slow_reader_holds_back_a_fast_writer() -> None:
    total = 48 * 1024 * 1024
    async with pair() as (a, b), anyio.create_task_group() as tg:

        async def write() -> None:
            await a.send_data(b"\0" * total)
            await a.send_end()

        tg.start_soon(write)
        await anyio.sleep(0.2)  # the writer runs ahead while nobody reads
        # Flow control stopped it: far less than the whole body sits in the reader's buffer.
        assert b.stream.pending <= READ_LIMIT + 2 * 1024 * 1024
        received = 0
        async for piece in b.iter_data():
            received += len(piece)
        assert received == total


async def test_eof_between_frames_is_unavailable_and_mid_frame_is_a_protocol_error() -> None:
    async with pair() as (a, b):
        await a.send(Done(rid="r"))
        await a.stream.send_eof()
        assert await b.receive() == Done(rid="r")
        with pytest.raises(Unavailable, match="peer closed"):
            await b.receive()
        assert b.broken
    async with pair() as (a, b):
        await a.stream.send(pack_header(Kind.DATA, 10) + b"12345")
        await a.stream.send_eof()
        with pytest.raises(ProtocolError, match="mid-frame"):
            await b.receive_data()


async def test_a_half_closed_peer_can_still_answer() -> None:
    async with pair() as (a, b):
        await a.send(Done(rid="q"))
        await a.stream.send_eof()
        assert await b.receive() == Done(rid="q")
        with pytest.raises(Unavailable):
            await b.receive()
        await b.send(Done(rid="answer"))
        assert await a.receive() == Done(rid="answer")


async def test_garbage_is_a_protocol_error() -> None:
    async with pair() as (a, b):
        await a.stream.send(b"GARBAGE!" + b"\0" * HEADER_SIZE)
        with pytest.raises(ProtocolError, match="magic"):
            await b.receive()


async def test_sending_to_a_closed_peer_is_unavailable() -> None:
    async with pair() as (a, b):
        await b.aclose()
        with pytest.raises(Unavailable):
            for _ in range(100):  # the first writes may land in the socket buffer
                await a.send_data(b"z" * 65536)
                await anyio.sleep(0.001)
        assert a.broken


async def test_error_replies_are_raised_as_remote_errors() -> None:
    async with pair() as (a, b):
        await a.send(ErrorReply(rid="r", code="NoSuchKey", message="gone", details={"k": "v"}))
        with pytest.raises(RemoteError) as caught:
            await b.receive_reply(Done)
        assert caught.value.error_code == "NoSuchKey"
        assert caught.value.details == {"k": "v"}


async def test_connect_and_adopt_over_a_listener(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    listener = await anyio.create_unix_listener(path)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        chan = await adopt(stream)
        try:
            msg = await chan.receive()
            await chan.send(Done(rid=msg.rid + "!"))
        finally:
            await chan.aclose()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        chan = await connect_unix(path)
        assert await chan.request(Done(rid="hi"), Done) == Done(rid="hi!")
        with pytest.raises(Unavailable):
            await chan.receive()
        await chan.aclose()
        tg.cancel_scope.cancel()


async def test_connect_to_nothing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot connect"):
        await connect_unix(str(tmp_path / "none.sock"), attempts=2, delay=0.001)


async def test_a_send_has_left_the_process_when_it_returns() -> None:
    """A child sends BootFailed and exits: nothing may stay behind in a user-space buffer."""
    body = os.urandom(6 * 1024 * 1024)  # far more than the socket buffer holds
    left, right = socket.socketpair()

    def sender_loop() -> None:
        async def send() -> None:
            chan = await channel_from_socket(left)
            await chan.send_data(body)
            await chan.send(Done(rid="last words"))
            # The loop ends here, without closing or draining anything.

        anyio.run(send)

    receiver = await channel_from_socket(right)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, sender_loop)
            with anyio.fail_after(30):
                received = b"".join([await receiver.receive_data() or b"" for _ in range(6)])
                assert received == body
                assert await receiver.receive() == Done(rid="last words")
    finally:
        await receiver.aclose()
        left.close()


async def test_a_send_cancelled_while_held_back_leaves_the_next_send_working() -> None:
    body = 16 * 1024 * 1024
    async with pair() as (a, b):
        with anyio.move_on_after(0.3) as scope:
            await a.send_data(b"\0" * body)  # nobody reads yet: the send waits for the kernel
        assert scope.cancelled_caught
        tail = b""

        async def read_all() -> None:
            nonlocal tail
            while True:
                try:
                    tail = await b.stream.receive_exactly(1 << 20)
                except anyio.IncompleteRead:
                    # Whole writes went out before the cancel; what follows is ours.
                    tail += await b.stream.receive_exactly(b.stream.pending)
                    return

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_all)
                await a.stream.send(b"more")  # must wait afresh, not re-raise the old cancel
                await a.stream.send_eof()
        assert tail.endswith(b"more")
