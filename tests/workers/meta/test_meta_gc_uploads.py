"""GC additions with real files and a real database: expiry of multipart uploads, the sweep of
leaked blob files (no row, old mtime), its bounds and resumption, and the GC metrics in
prometheus_client's multiprocess mode (in a child process, as the supervisor runs meta)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from protocol.errors import RemoteError
from protocol.layout import blob_path
from protocol.lifecycle import GCSettings
from protocol.meta import ListMultipartUploads
from tests.workers.meta.meta_support import (
    World,
    add_part,
    blob_refcounts,
    execute_sql,
    finish_upload,
    put,
    start_upload,
    write_blob,
)
from workers.meta import gc, leaks, metrics
from workers.meta.store import MetaStore

pytestmark = pytest.mark.anyio

SETTINGS = GCSettings(grace_period=3600.0, batch_size=100)
DAY = 86400.0


async def backdate(store: MetaStore, sql: str, *params: object) -> None:
    """Age rows as if written long ago (another connection, as an operator's shell would)."""
    await execute_sql(store, sql, *params)


def age(path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def on_disk(store: MetaStore, sha: str) -> bool:
    return os.path.exists(blob_path(store.base_path, sha))


async def test_expired_uploads_are_aborted(world: World) -> None:
    store = world.store
    old = await start_upload(store, world.alice, "alpha", "old")
    old_part = await add_part(store, world.alice, "alpha", "old", old, 1, b"abandoned part")
    fresh = await start_upload(store, world.alice, "alpha", "fresh")
    fresh_part = await add_part(store, world.alice, "alpha", "fresh", fresh, 1, b"recent part")
    await backdate(
        store, "UPDATE uploads SET initiated = ? WHERE upload_id = ?", time.time() - 8 * DAY, old
    )
    await gc.run_gc(store, SETTINGS, dry_run=True, multipart_expiration=7 * DAY)
    assert (await blob_refcounts(store))[old_part.sha256] == 1  # a dry run aborts nothing
    await gc.run_gc(store, SETTINGS, multipart_expiration=7 * DAY)
    listed = await store.list_multipart_uploads(
        ListMultipartUploads(principal=world.alice, bucket="alpha")
    )
    assert [u.upload_id for u in listed.uploads] == [fresh]
    counts = await blob_refcounts(store)
    assert (counts[old_part.sha256], counts[fresh_part.sha256]) == (0, 1)
    assert store.stats.gc_uploads_aborted == 1
    with pytest.raises(RemoteError) as exc:
        await finish_upload(store, world.alice, "alpha", "old", old, [(1, old_part.md5)])
    assert exc.value.error_code == "NoSuchUpload"
    # Its part is an ordinary orphan now: the next pass past the grace period deletes it.
    report = await gc.run_gc(store, SETTINGS, grace_period=0, multipart_expiration=7 * DAY)
    assert report.deleted == 1
    assert not on_disk(store, old_part.sha256)
    assert on_disk(store, fresh_part.sha256)


async def test_completed_upload_records_expire(world: World) -> None:
    store = world.store
    upload_id = await start_upload(store, world.alice, "alpha", "k")
    part = await add_part(store, world.alice, "alpha", "k", upload_id, 1, b"body")
    first = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, part.md5)])
    await gc.run_gc(store, SETTINGS, multipart_expiration=7 * DAY)
    again = await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, part.md5)])
    assert again == first
    await backdate(store, "UPDATE uploads SET completed_at = ?", time.time() - 8 * DAY)
    await gc.run_gc(store, SETTINGS, multipart_expiration=7 * DAY)
    with pytest.raises(RemoteError) as exc:
        await finish_upload(store, world.alice, "alpha", "k", upload_id, [(1, part.md5)])
    assert exc.value.error_code == "NoSuchUpload"
    assert (await store.get_object_info(world.alice, "alpha", "k")) == first


async def test_leaked_files_are_swept(world: World) -> None:
    store = world.store
    leaked = write_blob(store.base_path, b"a PUT whose commit never came")
    recent = write_blob(store.base_path, b"a PUT whose commit is on its way")
    live = await put(store, world.alice, "alpha", "live", data=b"committed long ago")
    age(blob_path(store.base_path, leaked.sha256), 2 * DAY)
    age(blob_path(store.base_path, live.blobs[0].sha256), 2 * DAY)
    # Files that are not blobs at their own address are not ours to judge.
    stranger = Path(blob_path(store.base_path, leaked.sha256)).parent / "notes.txt"
    stranger.write_text("keep me")
    misplaced = Path(store.base_path) / "blobs" / "00" / "00" / ("f" * 64)
    misplaced.parent.mkdir(parents=True, exist_ok=True)
    misplaced.write_bytes(b"wrong shard")
    for path in (stranger, misplaced):
        age(str(path), 2 * DAY)

    dry = await gc.run_gc(store, SETTINGS, dry_run=True)
    assert (dry.examined, dry.deleted, dry.freed_bytes) == (1, 1, leaked.size)
    assert on_disk(store, leaked.sha256)
    report = await gc.run_gc(store, SETTINGS)
    assert (report.examined, report.deleted, report.freed_bytes) == (1, 1, leaked.size)
    assert not on_disk(store, leaked.sha256)
    assert on_disk(store, recent.sha256)
    assert on_disk(store, live.blobs[0].sha256)
    assert stranger.exists() and misplaced.exists()
    assert store.stats.gc_leaked_removed == 1
    # The grace period alone protects a file whose commit is on its way: with none
    # (an operator's explicit choice) a leaked file goes at once.
    await gc.run_gc(store, SETTINGS, grace_period=0)
    assert not on_disk(store, recent.sha256)


async def test_a_row_that_appears_saves_the_file(world: World) -> None:
    store = world.store
    ref = write_blob(store.base_path, b"committed just in time")
    path = blob_path(store.base_path, ref.sha256)
    age(path, 2 * DAY)
    cutoff = time.time() - 3600
    assert await store.unknown_blobs([ref.sha256]) == [ref.sha256]
    await put(store, world.alice, "alpha", "k", data=b"committed just in time")
    calls: list[list[str]] = []

    def remove(shas: list[str]) -> list[tuple[str, int]]:
        calls.append(shas)
        return leaks.remove_leaked(store.base_path, cutoff, shas)

    assert await store.drop_leaked([ref.sha256], remove) == []
    assert calls == []
    assert on_disk(store, ref.sha256)
    # A file touched since the scan (a deduplicated PUT) is not removed either.
    orphan = write_blob(store.base_path, b"touched by a dedup PUT")
    assert leaks.remove_leaked(store.base_path, cutoff, [orphan.sha256]) == []
    assert on_disk(store, orphan.sha256)


def leaked_files(base: str, count: int) -> list[str]:
    """`count` blob files without rows, two days old, in distinct top-level shards."""
    shas: list[str] = []
    tops: set[str] = set()
    n = 0
    while len(shas) < count:
        data = f"leaked {n}".encode()
        n += 1
        sha = hashlib.sha256(data).hexdigest()
        if sha[:2] in tops:
            continue
        tops.add(sha[:2])
        write_blob(base, data)
        age(blob_path(base, sha), 2 * DAY)
        shas.append(sha)
    return shas


async def test_the_sweep_is_bounded_and_resumes(world: World) -> None:
    store = world.store
    shas = leaked_files(store.base_path, 6)
    passes = 0
    removed = 0
    cursors = []
    while removed < len(shas):
        report = await gc.run_gc(store, GCSettings(grace_period=3600.0, batch_size=1))
        assert report.deleted <= 1  # one shard (one file here) per pass
        removed += report.deleted
        cursors.append(await store.gc_state(leaks.CURSOR))
        passes += 1
        assert passes <= len(shas)
    assert not any(on_disk(store, sha) for sha in shas)
    assert len(set(cursors)) == len(cursors)  # the cursor moved on every pass


def test_scan_budgets_and_wraps(tmp_path: Path) -> None:
    base = str(tmp_path)
    shas = sorted(leaked_files(base, 3))
    cutoff = time.time() - 3600
    first = int(shas[0][:4], 16)
    # Starting just after the first file's shard, one lap finds all three and ends there.
    lap = leaks.scan(base, first + 1, file_budget=100, cutoff=cutoff)
    assert sorted(sha for sha, _ in lap.found) == shas
    assert lap.next_shard == (first + 1) % leaks.SHARDS
    one = leaks.scan(base, 0, file_budget=1, cutoff=cutoff)
    assert [sha for sha, _ in one.found] == shas[:1]
    assert one.next_shard == first + 1
    few_dirs = leaks.scan(base, 0, file_budget=100, cutoff=cutoff, dir_budget=1)
    assert few_dirs.dirs_visited == 1
    recent = leaks.scan(base, 0, file_budget=100, cutoff=time.time() - 10 * DAY)
    assert recent.found == [] and recent.files_seen == 3


_CHILD = """
import sys
from protocol.meta import GCReport
from workers.meta import metrics
assert metrics.enabled()
metrics.record_gc(GCReport(deleted=3, freed_bytes=300), 1000.0)
metrics.record_gc(GCReport(deleted=9, freed_bytes=900, dry_run=True), 2000.0)
"""


def test_gc_metrics_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("prometheus_multiproc_dir", None)
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=root, check=True, timeout=60)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
    value = registry.get_sample_value
    assert value("alexander_gc_runs_total") == 2
    assert value("alexander_gc_deleted_blobs_total") == 3  # dry runs delete nothing
    assert value("alexander_gc_freed_bytes_total") == 300
    assert value("alexander_gc_last_success_timestamp_seconds") == 2000.0


def test_metrics_are_off_without_the_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in metrics.MULTIPROC_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not metrics.enabled()
    assert metrics._get() is None
