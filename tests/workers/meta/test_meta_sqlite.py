"""SQLite engine specifics: migrations, pragmas, the group-commit writer's batching and
isolation, readers never waiting for the writer, and the listing's index plan."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from protocol.errors import RemoteError
from protocol.lifecycle import DatabaseSettings
from protocol.meta import CommitObject
from tests.workers.meta.meta_support import MASTER_KEY, etag_of, put, write_blob
from workers.meta.engines import open_store
from workers.meta.sqlite import SqliteStore
from workers.meta.sqlite.listing import SEEK_SQL

pytestmark = pytest.mark.anyio


class Gate:
    """A write op that holds the writer (inside its transaction) until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.entered.set()
        self.release.wait()


async def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        first = await store.migration_status()
    assert [(m.version, m.name) for m in first] == [(1, "init"), (2, "versions_multipart")]
    assert first[0].applied_at is not None
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        assert await store.migration_status() == first
        pong = await store.ping()
        assert pong.database
        assert pong.detail == {"driver": "sqlite", "migrations": "2"}
    assert (tmp_path / "meta.db").exists()


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY):
        pass
    conn = sqlite3.connect(tmp_path / "meta.db")
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer alexanderd"):
        async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY):
            pass


async def test_settings_are_applied_and_checked(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "custom.db"
    settings = DatabaseSettings(path=str(db), synchronous_mode="NORMAL", cache_size=-2000)
    async with open_store(str(tmp_path / "data"), settings, MASTER_KEY) as store:
        assert isinstance(store, SqliteStore)
        pragmas = await store.writer.submit(
            lambda c: tuple(
                c.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "cache_size", "foreign_keys")
            )
        )
        assert pragmas == ("wal", 1, -2000, 1)
    assert db.exists()
    for bad, match in (
        (DatabaseSettings(synchronous_mode="SOMETIMES"), "synchronous_mode"),
        (DatabaseSettings(journal_mode="MEMORY"), "journal_mode"),
        (DatabaseSettings(driver="postgresql"), "not available"),
    ):
        with pytest.raises(ValueError, match=match):
            async with open_store(str(tmp_path / "bad"), bad, MASTER_KEY):
                pass
    with pytest.raises(ValueError, match="master key"):
        async with open_store(str(tmp_path / "bad"), DatabaseSettings(), "not-hex"):
            pass


async def test_default_synchronous_is_full(sqlite_store: SqliteStore) -> None:
    assert (
        await sqlite_store.writer.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        == 2
    )


async def test_wrong_master_key_cannot_open_secrets(tmp_path: Path) -> None:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        await store.create_user("u")
        key = await store.create_key("u")
    async with open_store(str(tmp_path), DatabaseSettings(), "17" * 32) as store:
        with pytest.raises(RemoteError) as exc:
            await store.get_access_key(key.access_key_id)
        assert exc.value.error_code == "InternalError"
        assert "master key" in exc.value.message


async def test_acknowledged_rows_are_in_the_file(tmp_path: Path) -> None:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        owner = (await store.create_user("alice")).user_id
        await store.create_bucket(owner, "alpha")
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(put, store, owner, "alpha", f"k{i:03d}", f"d{i}".encode())
    # A plain connection, no store in between: the WAL holds every acknowledged commit.
    conn = sqlite3.connect(tmp_path / "meta.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM objects").fetchone()[0] == 200
        assert conn.execute("SELECT SUM(refcount) FROM blobs").fetchone()[0] == 200
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


async def test_queued_ops_share_one_transaction_yet_fail_alone(
    sqlite_store: SqliteStore,
) -> None:
    store = sqlite_store
    owner = (await store.create_user("alice")).user_id
    await store.create_bucket(owner, "alpha")
    ref = write_blob(store.base_path, b"payload")
    outcomes: dict[int, str] = {}
    gate = Gate()

    async def commit(i: int) -> None:
        # Every third op is refused: its neighbours in the batch must still commit.
        try:
            await store.commit_object(
                CommitObject(
                    principal=owner,
                    bucket="alpha",
                    key=f"k{i}",
                    size=ref.size,
                    etag=etag_of(b"payload"),
                    blobs=[ref],
                    if_match="no-such-etag" if i % 3 == 0 else None,
                )
            )
        except RemoteError as exc:
            outcomes[i] = exc.error_code
        else:
            outcomes[i] = "ok"

    async with anyio.create_task_group() as tg:
        tg.start_soon(store.writer.submit, gate)
        await anyio.to_thread.run_sync(gate.entered.wait)
        batches_before = store.stats.write_batches
        for i in range(60):
            tg.start_soon(commit, i)
        await anyio.wait_all_tasks_blocked()
        assert store.writer.queued() == 60
        gate.release.set()
    assert store.stats.write_batches - batches_before == 2  # the gate's, then all 60
    assert store.stats.largest_batch == 60
    assert sorted(i for i, o in outcomes.items() if o == "NoSuchKey") == list(range(0, 60, 3))
    assert sum(o == "ok" for o in outcomes.values()) == 40
    listed = await store.list_objects(owner, "alpha")
    assert len(listed.contents) == 40


async def test_reads_do_not_wait_for_the_writer(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    owner = (await store.create_user("alice")).user_id
    await store.create_bucket(owner, "alpha")
    await put(store, owner, "alpha", "k")
    gate = Gate()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.writer.submit, gate)
        await anyio.to_thread.run_sync(gate.entered.wait)
        # The writer is inside BEGIN IMMEDIATE and blocked; reads still answer.
        with anyio.fail_after(30):
            assert (await store.get_object_info(owner, "alpha", "k")).key == "k"
            assert len((await store.list_objects(owner, "alpha")).contents) == 1
            assert (await store.ping()).database
        gate.release.set()


async def test_listing_seeks_use_the_current_version_index(sqlite_store: SqliteStore) -> None:
    conn = sqlite3.connect(Path(sqlite_store.base_path) / "meta.db")
    try:
        for (_, bounded), sql in SEEK_SQL.items():
            params = ("b", "k", "z", 10) if bounded else ("b", "k", 10)
            plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "objects_current" in plan, plan
            assert "SCAN o" not in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # index order, no sort step
    finally:
        conn.close()


async def test_writer_recovers_when_the_database_is_locked(tmp_path: Path) -> None:
    settings = DatabaseSettings(busy_timeout=50)
    async with open_store(str(tmp_path), settings, MASTER_KEY) as store:
        await store.create_user("before")
        # Another process (say, a careless sqlite3 shell) holds the write lock.
        intruder = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
        intruder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.create_user("blocked")
        intruder.execute("ROLLBACK")
        intruder.close()
        # No transaction was left half-open: the next batch commits normally.
        await store.create_user("after")
        names = [u.name for u in (await store.list_users()).users]
        assert names == ["after", "before"]


async def test_ops_after_close_are_refused(tmp_path: Path) -> None:
    async with open_store(str(tmp_path), DatabaseSettings(), MASTER_KEY) as store:
        pass
    with pytest.raises(RemoteError) as exc:
        await store.create_user("late")
    assert exc.value.error_code == "ServiceUnavailable"
