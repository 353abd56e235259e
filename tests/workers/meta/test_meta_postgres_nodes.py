"""PostgreSQL with several nodes: two stores (two pools, as two meta processes on two nodes)
sharing one database and one blob directory. Conditional creates, completions, GC against
revivals and the leaked-file sweep against commits stay atomic across them, and nodes that
start together apply the migrations once."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import pytest

from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.lifecycle import GCSettings
from protocol.meta import BlobRef, CommitObject
from tests.workers.meta.meta_support import (
    add_part,
    blob_refcounts,
    etag_of,
    finish_upload,
    multipart_etag,
    open_pg,
    pg_connect,
    pg_schema,
    put,
    race,
    start_upload,
    write_blob,
)
from workers.meta import gc, leaks
from workers.meta.postgres import PostgresStore

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # asyncpg


@asynccontextmanager
async def two_nodes(base: Path) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    async with open_pg(base) as first, open_pg(base) as second:
        yield first, second


def on_disk(base: Path, sha256: str) -> bool:
    return os.path.exists(blob_path(str(base), sha256))


async def test_conditional_create_across_nodes_has_exactly_one_winner(tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with two_nodes(base) as nodes:
        owner = (await nodes[0].create_user("alice")).user_id
        await nodes[1].create_bucket(owner, "alpha")

        async def attempt(i: int) -> None:
            data = f"candidate {i}".encode()
            ref = write_blob(base, data)
            req = CommitObject(
                principal=owner,
                bucket="alpha",
                key="lock",
                size=ref.size,
                etag=etag_of(data),
                blobs=[ref],
                if_none_match="*",
            )
            await nodes[i % 2].commit_object(req)

        winners, refused = await race(40, attempt)
        assert len(winners) == 1
        assert refused == ["PreconditionFailed"] * 39
        for node in nodes:
            info = await node.get_object_info(owner, "alpha", "lock")
            assert info.etag == etag_of(f"candidate {winners[0]}".encode())
        counts = await blob_refcounts(nodes[1])
        assert sorted(counts.values()) == [0] * 39 + [1]


async def test_conditional_completes_across_nodes_have_exactly_one_winner(
    tmp_path: Path,
) -> None:
    base = tmp_path / "data"
    async with two_nodes(base) as nodes:
        owner = (await nodes[0].create_user("alice")).user_id
        await nodes[0].create_bucket(owner, "alpha")
        uploads: list[tuple[str, str]] = []
        for i in range(10):
            node = nodes[i % 2]
            upload_id = await start_upload(node, owner, "alpha", "lock")
            part = await add_part(node, owner, "alpha", "lock", upload_id, 1, f"body {i}".encode())
            uploads.append((upload_id, part.md5))

        async def attempt(i: int) -> None:
            upload_id, etag = uploads[i]
            await finish_upload(
                nodes[(i + 1) % 2],
                owner,
                "alpha",
                "lock",
                upload_id,
                [(1, etag)],
                if_none_match="*",
            )

        winners, refused = await race(10, attempt)
        assert len(winners) == 1
        assert refused == ["PreconditionFailed"] * 9
        info = await nodes[0].get_object_info(owner, "alpha", "lock")
        assert info.etag == multipart_etag([f"body {winners[0]}".encode()])
        assert sorted((await blob_refcounts(nodes[0])).values()) == [1] * 10


async def test_gc_racing_revivals_never_drops_an_acknowledged_blob(tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with two_nodes(base) as (collector, committer):
        owner = (await collector.create_user("alice")).user_id
        await collector.create_bucket(owner, "alpha")
        refs: list[BlobRef] = []
        for i in range(40):
            info = await put(collector, owner, "alpha", f"old/{i}", f"blob {i}".encode())
            refs.append(info.blobs[0])
            await collector.delete_object(owner, "alpha", f"old/{i}")  # an orphan now
        acknowledged: list[int] = []
        refused: list[int] = []

        async def revive(i: int) -> None:
            # The blob worker is not asked again: the file is whatever GC left of it.
            req = CommitObject(
                principal=owner,
                bucket="alpha",
                key=f"new/{i}",
                size=refs[i].size,
                etag=refs[i].md5,
                blobs=[refs[i]],
            )
            try:
                await committer.commit_object(req)
            except RemoteError as exc:
                assert exc.error_code == "BlobMissing", exc
                refused.append(i)
            else:
                acknowledged.append(i)

        async def collect() -> None:
            for _ in range(3):
                await gc.run_gc(collector, GCSettings(batch_size=8), grace_period=0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(collect)
            for i in range(40):
                tg.start_soon(revive, i)
        assert sorted(acknowledged + refused) == list(range(40))
        # Another pass, now that nothing races: acknowledged blobs are referenced, kept.
        await gc.run_gc(collector, GCSettings(), grace_period=0)
        counts = await blob_refcounts(committer)
        for i in acknowledged:
            assert on_disk(base, refs[i].sha256), i
            assert counts[refs[i].sha256] == 1
            info = await collector.get_object_info(owner, "alpha", f"new/{i}")
            assert info.blobs == [refs[i]]
        for i in refused:
            assert refs[i].sha256 not in counts
            with pytest.raises(RemoteError) as exc:
                await committer.get_object_info(owner, "alpha", f"new/{i}")
            assert exc.value.error_code == "NoSuchKey"


def _age(path: str, seconds: float) -> None:
    then = os.stat(path).st_mtime - seconds
    os.utime(path, (then, then))


async def test_leak_sweep_racing_commits_never_drops_an_acknowledged_blob(
    tmp_path: Path,
) -> None:
    base = tmp_path / "data"
    async with two_nodes(base) as (sweeper, committer):
        owner = (await sweeper.create_user("alice")).user_id
        await sweeper.create_bucket(owner, "alpha")
        # Blob files whose commit is late: no row yet, old enough for the sweep.
        refs = [write_blob(base, f"late {i}".encode()) for i in range(30)]
        for ref in refs:
            _age(blob_path(str(base), ref.sha256), 2 * 86400)
        acknowledged: list[int] = []

        async def commit(i: int) -> None:
            req = CommitObject(
                principal=owner,
                bucket="alpha",
                key=f"late/{i}",
                size=refs[i].size,
                etag=refs[i].md5,
                blobs=[refs[i]],
            )
            try:
                await committer.commit_object(req)
            except RemoteError as exc:
                assert exc.error_code == "BlobMissing", exc
            else:
                acknowledged.append(i)

        async def sweep() -> None:
            shas = [ref.sha256 for ref in refs]
            remove = partial(leaks.remove_leaked, str(base), time.time() - 3600)
            for start in range(0, len(shas), 5):
                await sweeper.drop_leaked(shas[start : start + 5], remove)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sweep)
            for i in range(30):
                tg.start_soon(commit, i)
        counts = await blob_refcounts(sweeper)
        for i in acknowledged:
            assert on_disk(base, refs[i].sha256), i
            assert counts[refs[i].sha256] == 1


async def test_nodes_starting_together_apply_migrations_once(tmp_path: Path) -> None:
    base = tmp_path / "data"
    statuses: list[list[tuple[int, str, float | None]]] = []

    async def node() -> None:
        async with open_pg(base) as store:
            statuses.append(
                [(m.version, m.name, m.applied_at) for m in await store.migration_status()]
            )

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(node)
    assert len(statuses) == 3
    assert all(status == statuses[0] for status in statuses)
    assert [(v, n) for v, n, _ in statuses[0]] == [(1, "init"), (2, "versions_multipart")]
    assert all(at is not None for _, _, at in statuses[0])
    conn = await pg_connect(pg_schema(base))
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 2
    finally:
        await conn.close()


async def test_versions_written_by_two_nodes_stay_in_write_order(tmp_path: Path) -> None:
    base = tmp_path / "data"
    async with two_nodes(base) as nodes:
        owner = (await nodes[0].create_user("alice")).user_id
        await nodes[0].create_bucket(owner, "alpha")
        await nodes[1].put_bucket_versioning(owner, "alpha", "Enabled")
        written: list[str | None] = []
        for i in range(6):
            info = await put(nodes[i % 2], owner, "alpha", "k", f"v{i}".encode())
            written.insert(0, info.version_id)
        listed = await nodes[0].list_object_versions(owner, "alpha")
        assert [v.version_id for v in listed.versions] == written
        assert [v.is_latest for v in listed.versions] == [True] + [False] * 5
        latest = await nodes[1].get_object_info(owner, "alpha", "k")
        assert latest.version_id == written[0]
