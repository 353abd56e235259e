"""PostgreSQL going away and coming back: killed connections are replaced without failing
the next operation, a transaction cut before COMMIT is retried on a fresh connection, and a
server that cannot be reached gives ServiceUnavailable (ping: database=False) until it is
back, then everything works again without a restart.

The outage is real: the store talks to PostgreSQL through a TCP relay (real sockets) that
the test takes down and brings back on the same port."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import anyio.abc
import msgspec
import pytest
from anyio.abc import SocketAttribute

from protocol.errors import RemoteError
from tests.workers.meta.meta_support import PG_HOST, PG_PORT, PG_SETTINGS, open_pg, pg_connect
from workers.meta.postgres.db import Conn

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg


async def terminate(application_name: str) -> int:
    """Kill every backend of a store's pool, waiting until each is gone."""
    conn = await pg_connect()
    try:
        killed = await conn.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
            " FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
    finally:
        await conn.close()
    return int(killed)


async def test_killed_connections_are_replaced_before_the_next_operation(
    tmp_path: Path,
) -> None:
    name = f"meta-kill-{os.getpid()}"
    async with open_pg(tmp_path / "data", application_name=name) as store:
        await store.create_user("alice")
        async with anyio.create_task_group() as tg:  # several pooled connections
            for _ in range(6):
                tg.start_soon(store.list_users)
        assert await terminate(name) >= 1
        # The very next operation succeeds, on a fresh connection.
        await store.create_user("bob")
        assert [u.name for u in (await store.list_users()).users] == ["alice", "bob"]
        assert (await store.ping()).database
        assert await terminate(name) >= 1
        assert [u.name for u in (await store.list_users()).users] == ["alice", "bob"]


async def test_a_transaction_cut_before_commit_is_retried(tmp_path: Path) -> None:
    name = f"meta-cut-{os.getpid()}"
    async with open_pg(tmp_path / "data", application_name=name) as store:
        attempts = 0
        entered = anyio.Event()
        release = anyio.Event()

        async def op(conn: Conn) -> None:
            nonlocal attempts
            attempts += 1
            await conn.execute(
                "INSERT INTO gc_state (name, value) VALUES ('probe', $1)", str(attempts)
            )
            if attempts == 1:
                entered.set()
                await release.wait()
            await conn.execute("UPDATE gc_state SET value = value || '!' WHERE name = 'probe'")

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.database.write, op)
            await entered.wait()
            assert await terminate(name) >= 1  # the first attempt's connection dies
            release.set()
        assert attempts == 2
        assert await store.gc_state("probe") == "2!"  # the first attempt left nothing


class Relay:
    """A TCP relay to PostgreSQL that can be taken down and brought back on one port."""

    def __init__(self) -> None:
        self.port = 0
        self._scope = anyio.CancelScope()
        self._stopped = anyio.Event()

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        self._scope = anyio.CancelScope()
        self._stopped = anyio.Event()
        await tg.start(self._run)

    async def stop(self) -> None:
        """Close the listener and every relayed connection; returns once they are closed."""
        self._scope.cancel()
        with anyio.fail_after(30):
            await self._stopped.wait()

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with self._scope:
            try:
                listener = await anyio.create_tcp_listener(
                    local_host="127.0.0.1", local_port=self.port
                )
                self.port = listener.extra(SocketAttribute.local_port)
                async with listener, anyio.create_task_group() as tg:
                    task_status.started()
                    await listener.serve(self._relay, tg)
            finally:
                self._stopped.set()

    async def _relay(self, client: anyio.abc.SocketStream) -> None:
        server = await anyio.connect_tcp(PG_HOST, PG_PORT)
        async with client, server, anyio.create_task_group() as tg:
            tg.start_soon(self._pipe, client, server, tg.cancel_scope)
            tg.start_soon(self._pipe, server, client, tg.cancel_scope)

    @staticmethod
    async def _pipe(
        src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream, scope: anyio.CancelScope
    ) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            scope.cancel()


async def test_an_outage_is_service_unavailable_until_the_server_is_back(
    tmp_path: Path,
) -> None:
    relay = Relay()
    async with anyio.create_task_group() as tg:
        await relay.start(tg)
        settings = msgspec.structs.replace(PG_SETTINGS, port=relay.port)
        async with open_pg(tmp_path / "data", settings=settings) as store:
            alice = await store.create_user("alice")
            await relay.stop()  # PostgreSQL is unreachable from here on
            # Bounded by the connect timeout (refused at once here), never hanging.
            with anyio.fail_after(20):
                for attempt in (store.create_user("bob"), store.list_users()):
                    with pytest.raises(RemoteError) as exc:
                        await attempt
                    assert exc.value.error_code == "ServiceUnavailable"
                    assert str(relay.port) in exc.value.message
                pong = await store.ping()
            assert not pong.database
            assert pong.detail["driver"] == "postgres"
            assert "unreachable" in pong.detail["error"]

            await relay.start(tg)  # back, same address: no restart of the store
            await store.create_bucket(alice.user_id, "alpha")
            assert [u.name for u in (await store.list_users()).users] == ["alice"]
            assert (await store.ping()).database
        tg.cancel_scope.cancel()
