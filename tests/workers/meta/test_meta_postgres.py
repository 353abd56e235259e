"""PostgreSQL engine specifics: choosing it through `database.driver` (and serving it over the
meta socket), settings checks, transactions that leave no session state behind (PgBouncer's
transaction pooling), keys in binary order with any character, the reference ledger, index
plans of the listing seeks, and the migration guard."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import msgspec
import pytest

from protocol.channel import connect_unix
from protocol.errors import RemoteError
from protocol.lifecycle import BootMeta, DatabaseSettings, GCSettings
from protocol.meta import CommitObject, CreateUser, Ping, Pong, UserInfo
from tests.workers.meta.meta_support import (
    MASTER_KEY,
    PG_SETTINGS,
    blob_refcounts,
    open_pg,
    pg_connect,
    pg_schema,
    put,
    write_blob,
)
from workers.meta.engines import open_store
from workers.meta.postgres import PostgresStore, fold, open_postgres_store
from workers.meta.postgres.db import Conn
from workers.meta.postgres.listing import OBJECT_SEEKS, UPLOAD_SEEKS, VERSION_SEEKS
from workers.meta.server import serve_meta

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[PostgresStore]:
    async with open_pg(tmp_path / "data") as store:
        yield store


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A database of its own (the engine as configured uses the default schema)."""
    name = f"meta_db_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await pg_connect()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_driver_selects_postgres_and_serves_it(database: str, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(PG_SETTINGS, name=database)
    async with open_store(str(tmp_path / "data"), settings, MASTER_KEY) as store:
        assert isinstance(store, PostgresStore)
        assert [(m.version, m.name) for m in await store.migration_status()] == [
            (1, "init"),
            (2, "versions_multipart"),
        ]
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        await put(store, owner, "alpha", "k", b"stored in postgres")
    boot = BootMeta(
        socket_path=str(tmp_path / "meta.sock"),
        base_path=str(tmp_path / "data"),
        database=settings,
        master_key=MASTER_KEY,
        gc=GCSettings(enabled=False),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(serve_meta, boot)
        chan = await connect_unix(boot.socket_path)
        pong = await chan.request(Ping(), Pong)
        assert pong.database
        assert pong.detail["driver"] == "postgres"
        assert pong.detail["migrations"] == "2"
        with pytest.raises(RemoteError) as exc:
            await chan.request(CreateUser(name="alice"), UserInfo)
        assert exc.value.error_code == "EntityAlreadyExists"  # the same database
        tg.cancel_scope.cancel()
    await chan.aclose()


async def test_settings_are_checked(tmp_path: Path) -> None:
    bad = msgspec.structs.replace(PG_SETTINGS, sslmode="sometimes", port=0, pool_size=0)
    with pytest.raises(ValueError) as exc:
        async with open_store(str(tmp_path), bad, MASTER_KEY):
            pass
    for part in ("sslmode", "port", "pool_size"):
        assert part in str(exc.value)
    with pytest.raises(ValueError, match="not available"):
        async with open_store(str(tmp_path), DatabaseSettings(driver="mysql"), MASTER_KEY):
            pass
    # Nothing listens on port 1: refused at once, reported as the service being away.
    closed = msgspec.structs.replace(PG_SETTINGS, port=1)
    with anyio.fail_after(20), pytest.raises(RemoteError) as unreachable:
        async with open_store(str(tmp_path), closed, MASTER_KEY):
            pass
    assert unreachable.value.error_code == "ServiceUnavailable"
    assert "127.0.0.1:1/test" in unreachable.value.message


def test_the_engine_refuses_trio(tmp_path: Path) -> None:
    async def attempt() -> None:
        async with open_postgres_store(str(tmp_path), PG_SETTINGS, bytes(32)):
            pass

    with pytest.raises(RuntimeError, match="asyncio"):
        anyio.run(attempt, backend="trio")


async def test_transactions_leave_no_session_state(pg: PostgresStore) -> None:
    owner = (await pg.create_user("alice")).user_id
    await pg.create_bucket(owner, "alpha")
    await put(pg, owner, "alpha", "a/b", b"x")
    await pg.list_objects(owner, "alpha", delimiter="/")

    async def settings(conn: Conn) -> tuple[str, str, str]:
        row = await conn.fetchrow(
            "SELECT current_setting('synchronous_commit'),"
            " current_setting('transaction_isolation'), current_setting('search_path')"
        )
        assert row is not None
        return (str(row[0]), str(row[1]), str(row[2]))

    schema = pg_schema(Path(pg.base_path))
    assert await pg.database.write(settings) == ("on", "read committed", schema)
    assert (await pg.database.read(settings))[1:] == ("repeatable read", schema)
    # Between transactions a pooled connection is as PgBouncer would hand it to anyone:
    # no prepared statement, no SET outliving its transaction, no transaction left open.
    async with pg.database.pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
        assert await conn.fetchval("SELECT current_setting('search_path')") != schema
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
            == 0
        )


async def test_keys_are_bytes_in_binary_order(pg: PostgresStore) -> None:
    owner = (await pg.create_user("alice")).user_id
    await pg.create_bucket(owner, "alpha")
    keys = ["a\x00b", "a", "\U0001f600", "\ufffd", "Z", "é", "a b", "\x7f"]
    for key in keys:
        await put(pg, owner, "alpha", key, key.encode())
    listed = await pg.list_objects(owner, "alpha")
    assert [o.key for o in listed.contents] == sorted(keys, key=lambda k: k.encode())
    info = await pg.get_object_info(owner, "alpha", "a\x00b")
    assert info.size == 3
    page = await pg.list_objects(owner, "alpha", prefix="a", delimiter="\x00")
    assert page.common_prefixes == ["a\x00"]


async def test_the_reference_ledger_folds_to_the_same_counts(pg: PostgresStore) -> None:
    owner = (await pg.create_user("alice")).user_id
    await pg.create_bucket(owner, "alpha")
    shared = write_blob(pg.base_path, b"popular")

    async def commit(i: int) -> None:
        await pg.commit_object(
            CommitObject(
                principal=owner, bucket="alpha", key=f"k{i}", size=7, etag="e", blobs=[shared]
            )
        )

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(commit, i)
    for i in range(10):
        await pg.delete_object(owner, "alpha", f"k{i}")
    before = await blob_refcounts(pg)
    assert before[shared.sha256] == 20
    assert await fold.fold_pending(pg.database, wait=True) > 0
    pending = await pg.database.read(lambda c: c.fetchval("SELECT count(*) FROM blob_deltas"))
    assert pending == 0
    assert await blob_refcounts(pg) == before
    for i in range(10, 30):
        await pg.delete_object(owner, "alpha", f"k{i}")
    orphans = await pg.orphaned_blobs(1e18, 10)  # folds, then reads the rows
    assert [(row.sha256, row.refcount) for row in orphans] == [(shared.sha256, 0)]
    assert orphans[0].orphaned_at is not None


async def test_listing_seeks_use_their_indexes(pg: PostgresStore) -> None:
    queries: list[tuple[str, tuple[object, ...], str]] = [
        (sql, ("b", b"k", b"z", 10) if upper else ("b", b"k", 10), "objects_current")
        for (_, upper), sql in OBJECT_SEEKS.items()
    ]
    for seeks, in_key_args, index in (
        (VERSION_SEEKS, ("b", b"k", 5, 10), "objects_versions"),
        (UPLOAD_SEEKS, ("b", b"k", "u", 10), "uploads_pending"),
    ):
        queries.append((seeks.in_key, in_key_args, index))
        queries += [
            (sql, ("b", b"k", b"z", 10) if upper else ("b", b"k", 10), index)
            for (_, upper), sql in seeks.from_key.items()
        ]

    async def plans(conn: Conn) -> list[str]:
        # An empty table is scanned whole by any sane planner: rule that out, so the plan
        # shows whether the index delivers the rows in order (no Sort under the Limit).
        await conn.execute("SET LOCAL enable_seqscan = off")
        found = []
        for sql, args, _ in queries:
            rows = await conn.fetch("EXPLAIN " + sql, *args)
            found.append("\n".join(str(row[0]) for row in rows))
        return found

    for (sql, _, index), plan in zip(queries, await pg.database.read(plans), strict=True):
        inner = plan.split("Limit", 1)[1]  # the plan under the seek's LIMIT
        assert index in inner, (sql, plan)
        assert "Sort" not in inner.split("Index", 1)[0], (sql, plan)


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with open_pg(base):
        pass
    conn = await pg_connect(pg_schema(base))
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer alexanderd"):
        async with open_pg(base):
            pass


async def test_operations_after_close_are_refused(tmp_path: Path) -> None:
    async with open_pg(tmp_path / "data") as store:
        await store.create_user("alice")
    with pytest.raises(RemoteError) as exc:
        await store.create_user("late")
    assert exc.value.error_code == "ServiceUnavailable"
    pong = await store.ping()
    assert not pong.database
