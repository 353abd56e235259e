"""Helpers shared by the meta-store tests: engines to open, real blob files, commits."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread
import asyncpg

from protocol.errors import RemoteError
from protocol.layout import blob_dir, blob_path
from protocol.lifecycle import DatabaseSettings
from protocol.meta import (
    BlobRef,
    CommitObject,
    CompletedPart,
    CompleteMultipartUpload,
    CreateMultipartUpload,
    ObjectInfo,
    RegisterPart,
)
from tests.conftest import require_service
from workers.meta.engines import open_store
from workers.meta.postgres import PostgresStore, open_postgres_store
from workers.meta.store import MetaStore

MASTER_KEY = "6a" * 32
# Every engine the conformance suite runs against. PostgreSQL tests run on asyncio only
# (asyncpg; conftest.py deselects their trio variants) and need the server below: they
# skip without it, and fail under CI=true.
ENGINES = ["sqlite", "postgres"]

PG_HOST, PG_PORT = "127.0.0.1", 5432
# The stores may reach the same database through a PgBouncer in transaction-pooling mode
# (set this to its port); the tests' own administrative connections always go direct.
STORE_PORT = int(os.environ.get("ALEXANDERD_TEST_PG_STORE_PORT", PG_PORT))
PG_SETTINGS = DatabaseSettings(
    driver="postgres",
    host=PG_HOST,
    port=STORE_PORT,
    name="test",
    user="postgres",
    sslmode="disable",
    pool_size=8,
)
# Schemas created by this test process (each test's database lives in its own schema,
# named after its data directory so that reopening the same directory finds it again).
PG_SCHEMAS: set[str] = set()


def pg_schema(base: Path) -> str:
    digest = hashlib.sha1(str(base).encode(), usedforsecurity=False).hexdigest()[:12]
    return f"meta_t{os.getpid()}_{digest}"


@asynccontextmanager
async def open_pg(
    base: Path,
    *,
    application_name: str = "alexanderd-meta-test",
    settings: DatabaseSettings = PG_SETTINGS,
) -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store whose tables live in the schema of `base` (a second open of the
    same `base` is a second node sharing the database)."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    await anyio.to_thread.run_sync(partial(os.makedirs, base, exist_ok=True))
    schema = pg_schema(base)
    PG_SCHEMAS.add(schema)
    key = bytes.fromhex(MASTER_KEY)
    async with open_postgres_store(
        str(base), settings, key, schema=schema, application_name=application_name
    ) as store:
        yield store


@asynccontextmanager
async def open_engine(engine: str, base: Path) -> AsyncIterator[MetaStore]:
    if engine == "sqlite":
        async with open_store(str(base), DatabaseSettings(), MASTER_KEY) as store:
            yield store
        return
    if engine == "postgres":
        async with open_pg(base) as pg:
            yield pg
        return
    raise ValueError(f"no test harness for engine {engine!r}")


async def pg_connect(schema: str | None = None) -> asyncpg.Connection[asyncpg.Record]:
    """A plain connection (an operator's psql), in `schema` when given."""
    settings = {"search_path": schema} if schema else {}
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database="test", server_settings=settings
    )


async def execute_sql(store: MetaStore, sql: str, *params: object) -> None:
    """Run one statement on the store's database from another connection, as an operator's
    shell would (`?` placeholders, translated for PostgreSQL)."""
    if isinstance(store, PostgresStore):
        parts = sql.split("?")
        pg_sql = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        conn = await pg_connect(pg_schema(Path(store.base_path)))
        try:
            await conn.execute(pg_sql, *params)
        finally:
            await conn.close()
        return

    def run() -> None:
        db = sqlite3.connect(Path(store.base_path) / "meta.db", isolation_level=None, timeout=30)
        try:
            db.execute(sql, params)
        finally:
            db.close()

    await anyio.to_thread.run_sync(run)


def drop_pg_schemas() -> None:
    """Drop the schemas the tests created. Runs from synchronous teardown code, so it uses
    its own event loop in a thread of its own."""
    if not PG_SCHEMAS:
        return
    names = sorted(PG_SCHEMAS)
    PG_SCHEMAS.clear()
    failure: list[BaseException] = []

    async def drop() -> None:
        conn = await pg_connect()
        try:
            for name in names:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    def run() -> None:
        try:
            asyncio.run(drop())
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="drop-test-schemas")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def write_blob(base: str | Path, data: bytes) -> BlobRef:
    """Store `data` at its content address, as a blob worker would."""
    sha = hashlib.sha256(data).hexdigest()
    os.makedirs(blob_dir(str(base), sha), exist_ok=True)
    with open(blob_path(str(base), sha), "wb") as handle:
        handle.write(data)
    return BlobRef(sha256=sha, size=len(data), md5=hashlib.md5(data).hexdigest())


def etag_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@dataclass
class World:
    """A store with two users: alice owns bucket "alpha", bob owns nothing yet."""

    store: MetaStore
    alice: str
    bob: str


async def put(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    data: bytes = b"hello",
    **extra: object,
) -> ObjectInfo:
    ref = write_blob(store.base_path, data)
    req = CommitObject(
        principal=principal,
        bucket=bucket,
        key=key,
        size=len(data),
        etag=etag_of(data),
        blobs=[ref],
        **extra,  # type: ignore[arg-type]
    )
    return await store.commit_object(req)


async def blob_refcounts(store: MetaStore) -> dict[str, int]:
    counts: dict[str, int] = {}
    after = ""
    while rows := await store.blob_page(after, 500):
        counts.update({row.sha256: row.refcount for row in rows})
        after = rows[-1].sha256
    return counts


MIB = 1024 * 1024


def big(tag: str, size: int = 5 * MIB) -> bytes:
    """A part body of `size` bytes (5 MiB by default: the smallest non-last part)."""
    seed = tag.encode()
    return (seed * (size // len(seed) + 1))[:size]


async def start_upload(
    store: MetaStore, principal: str | None, bucket: str, key: str, **extra: object
) -> str:
    created = await store.create_multipart_upload(
        CreateMultipartUpload(principal=principal, bucket=bucket, key=key, **extra)  # type: ignore[arg-type]
    )
    return created.upload_id


async def add_part(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    data: bytes,
    checksums: dict[str, str] | None = None,
) -> BlobRef:
    ref = write_blob(store.base_path, data)
    registered = await store.register_part(
        RegisterPart(
            principal=principal,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            part_number=number,
            blob=ref,
            checksums=checksums or {},
        )
    )
    assert registered.etag == ref.md5
    return ref


async def finish_upload(
    store: MetaStore,
    principal: str | None,
    bucket: str,
    key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    **extra: object,
) -> ObjectInfo:
    return await store.complete_multipart_upload(
        CompleteMultipartUpload(
            principal=principal,
            bucket=bucket,
            key=key,
            upload_id=upload_id,
            parts=[CompletedPart(part_number=n, etag=etag) for n, etag in parts],
            **extra,  # type: ignore[arg-type]
        )
    )


def multipart_etag(bodies: list[bytes]) -> str:
    joined = b"".join(hashlib.md5(body).digest() for body in bodies)
    return f"{hashlib.md5(joined).hexdigest()}-{len(bodies)}"


async def race(
    count: int, attempt: Callable[[int], Awaitable[object]]
) -> tuple[list[int], list[str]]:
    """Run attempt(0) .. attempt(count - 1) all at once: the indexes that succeeded and the
    error codes of the attempts that were refused (RemoteError)."""
    winners: list[int] = []
    refused: list[str] = []

    async def one(i: int) -> None:
        try:
            await attempt(i)
        except RemoteError as exc:
            refused.append(exc.error_code)
        else:
            winners.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(one, i)
    return winners, refused
