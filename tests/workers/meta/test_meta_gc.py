"""Garbage collection with real files: grace period, recheck under the writer, dry run,
batches, temp-file cleanup, the background loop and its counters."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from protocol.errors import RemoteError
from protocol.layout import blob_path, tmp_dir
from protocol.lifecycle import GCSettings
from tests.workers.meta.meta_support import World, blob_refcounts, put, write_blob
from workers.meta import gc
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio

SETTINGS = GCSettings(grace_period=3600.0, batch_size=100)


async def orphan(world: World, key: str, data: bytes) -> str:
    """Commit `data` under `key`, then delete it: its blob becomes an orphan."""
    info = await put(world.store, world.alice, "alpha", key, data=data)
    await world.store.delete_object(world.alice, "alpha", key)
    return info.blobs[0].sha256


def exists(store: MetaStore, sha: str) -> bool:
    return os.path.exists(blob_path(store.base_path, sha))


async def test_grace_period_protects_recent_orphans(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"recently orphaned")
    report = await gc.run_gc(store, SETTINGS)
    assert (report.examined, report.deleted, report.freed_bytes) == (0, 0, 0)
    assert exists(store, sha)
    report = await gc.run_gc(store, SETTINGS, grace_period=0)
    assert (report.examined, report.deleted) == (1, 1)
    assert report.freed_bytes == len(b"recently orphaned")
    assert not report.dry_run
    assert not exists(store, sha)
    assert sha not in await blob_refcounts(store)


async def test_referenced_blobs_are_never_collected(world: World) -> None:
    store = world.store
    live = await put(store, world.alice, "alpha", "live", data=b"live data")
    gone = await orphan(world, "gone", b"gone data")
    report = await gc.run_gc(store, SETTINGS, grace_period=0)
    assert report.deleted == 1
    assert exists(store, live.blobs[0].sha256)
    assert not exists(store, gone)
    assert (await store.get_object_info(world.alice, "alpha", "live")).size == live.size


async def test_revived_candidate_is_rechecked_inside_the_writer(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"about to be revived")
    cutoff = time.time() + 1
    candidates = await store.orphaned_blobs(cutoff, 10)
    assert [row.sha256 for row in candidates] == [sha]
    # A commit takes a reference between the candidate read and the deletion.
    await put(store, world.alice, "alpha", "again", data=b"about to be revived")
    unlinked: list[list[str]] = []
    dropped = await store.drop_orphans([sha], cutoff, unlinked.append)
    assert dropped == []
    assert unlinked == []
    assert exists(store, sha)
    assert (await blob_refcounts(store))[sha] == 1


async def test_orphaned_again_restarts_the_grace_period(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"flip flop")
    first_cutoff = time.time()
    await put(store, world.alice, "alpha", "k", data=b"flip flop")
    await store.delete_object(world.alice, "alpha", "k")
    # Orphaned again after first_cutoff: a deletion judged by the old cutoff must not happen.
    assert await store.drop_orphans([sha], first_cutoff - 1, lambda _: None) == []
    assert exists(store, sha)


async def test_dry_run_reports_without_deleting(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"dry")
    old_tmp = Path(tmp_dir(store.base_path)) / "upload-old"
    old_tmp.parent.mkdir(parents=True, exist_ok=True)
    old_tmp.write_bytes(b"partial")
    os.utime(old_tmp, (time.time() - 7200, time.time() - 7200))
    report = await gc.run_gc(store, SETTINGS, grace_period=0, dry_run=True)
    assert report.dry_run
    assert (report.examined, report.deleted, report.freed_bytes) == (1, 1, 3)
    assert report.temp_removed == 1
    assert exists(store, sha)
    assert old_tmp.exists()
    assert (await blob_refcounts(store))[sha] == 0
    assert store.stats.gc_freed_bytes == 0
    # The configured dry_run applies when the request does not say.
    report = await gc.run_gc(store, GCSettings(grace_period=0, dry_run=True))
    assert report.dry_run
    assert exists(store, sha)


async def test_batch_size_bounds_a_pass(world: World) -> None:
    store = world.store
    shas = [await orphan(world, f"k{i}", f"blob {i}".encode()) for i in range(5)]
    report = await gc.run_gc(store, GCSettings(batch_size=2), grace_period=0)
    assert (report.examined, report.deleted) == (2, 2)
    assert sum(exists(store, sha) for sha in shas) == 3
    report = await gc.run_gc(store, GCSettings(batch_size=100), grace_period=0)
    assert report.deleted == 3
    assert not any(exists(store, sha) for sha in shas)


async def test_row_left_by_a_crash_between_unlink_and_commit(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"half collected")
    os.unlink(blob_path(store.base_path, sha))  # the file went, the row stayed
    report = await gc.run_gc(store, SETTINGS, grace_period=0)
    assert report.deleted == 1
    assert sha not in await blob_refcounts(store)


async def test_temp_files_older_than_an_hour_are_removed(world: World) -> None:
    store = world.store
    folder = anyio.Path(tmp_dir(store.base_path))
    await folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    ages = {"fresh": 10.0, "ninety-minutes": 5400.0, "two-days": 2 * 86400.0}
    for name, age in ages.items():
        path = folder / name
        await path.write_bytes(b"x")
        await anyio.to_thread.run_sync(os.utime, path, (now - age, now - age))
    await (folder / "a-directory").mkdir()
    # With a one-day grace period, only files older than a day go.
    report = await gc.run_gc(store, SETTINGS, grace_period=86400.0)
    assert report.temp_removed == 1
    assert sorted([p.name async for p in folder.iterdir()]) == [
        "a-directory",
        "fresh",
        "ninety-minutes",
    ]
    # Grace 0 still keeps temp files younger than an hour (uploads in progress).
    report = await gc.run_gc(store, SETTINGS, grace_period=0)
    assert report.temp_removed == 1
    assert sorted([p.name async for p in folder.iterdir()]) == ["a-directory", "fresh"]


async def test_counters_and_validation(world: World) -> None:
    store = world.store
    await orphan(world, "k", b"12345")
    await gc.run_gc(store, SETTINGS, grace_period=0)
    stats = store.stats
    assert stats.gc_runs == 1
    assert stats.gc_deleted == 1
    assert stats.gc_freed_bytes == 5
    assert stats.gc_last_success is not None
    with pytest.raises(RemoteError) as exc:
        await gc.run_gc(store, SETTINGS, grace_period=-1)
    assert exc.value.error_code == "InvalidArgument"
    for bad in (
        GCSettings(interval=0),
        GCSettings(grace_period=-5),
        GCSettings(batch_size=0),
    ):
        with pytest.raises(ValueError, match="gc\\."):
            gc.check_settings(bad)


async def test_background_loop_runs_passes(world: World) -> None:
    store = world.store
    sha = await orphan(world, "k", b"background")
    loop_settings = GCSettings(interval=0.01, grace_period=0)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(gc.serve_gc, loop_settings, store)
            # Waits on the loop's own schedule (a periodic action), not on readiness.
            while store.stats.gc_runs < 2:  # noqa: ASYNC110 - no event to wait on: polls stats
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert not exists(store, sha)
    assert store.stats.gc_deleted == 1
    assert store.stats.gc_failures == 0


def test_unlink_blobs_tolerates_missing_files(tmp_path: Path) -> None:
    ref = write_blob(tmp_path, b"present")
    gc.unlink_blobs(str(tmp_path), [ref.sha256, "f" * 64])
    assert not os.path.exists(blob_path(str(tmp_path), ref.sha256))
