"""Scrub with real files: healthy blobs pass, rotten ones are quarantined and their objects
marked corrupt, missing ones are reported."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anyio
import pytest

from protocol.layout import blob_path, quarantine_dir
from tests.workers.meta.meta_support import World, put
from workers.meta.scrub import hash_file, run_scrub

pytestmark = pytest.mark.anyio


async def test_healthy_store(world: World) -> None:
    await put(world.store, world.alice, "alpha", "a", data=b"aaa")
    await put(world.store, world.alice, "alpha", "b", data=b"bbbb")
    report = await run_scrub(world.store)
    assert report.checked == 2
    assert report.bytes_checked == 7
    assert report.corrupt == []
    assert report.missing == []
    assert report.objects_marked == 0
    assert world.store.stats.scrub_runs == 1


async def test_bitrot_is_quarantined_and_objects_marked(world: World) -> None:
    store = world.store
    rotten = await put(store, world.alice, "alpha", "one", data=b"original bytes")
    await put(store, world.alice, "alpha", "two", data=b"original bytes")  # same blob
    healthy = await put(store, world.alice, "alpha", "three", data=b"other bytes")
    sha = rotten.blobs[0].sha256
    path = blob_path(store.base_path, sha)
    async with await anyio.open_file(path, "r+b") as handle:
        await handle.write(b"X")  # one flipped byte, same size
    report = await run_scrub(store)
    assert report.corrupt == [sha]
    assert report.objects_marked == 2
    assert report.checked == 2
    assert not await anyio.Path(path).exists()
    quarantined = anyio.Path(quarantine_dir(store.base_path)) / sha
    assert await quarantined.read_bytes() == b"Xriginal bytes"
    assert (await store.get_object_info(world.alice, "alpha", "one")).corrupt
    assert (await store.get_object_info(world.alice, "alpha", "two")).corrupt
    assert not (await store.get_object_info(world.alice, "alpha", "three")).corrupt
    assert await anyio.Path(blob_path(store.base_path, healthy.blobs[0].sha256)).exists()
    assert store.stats.scrub_corrupt == 1
    # The blob is now missing from the store: the next scrub reports it as such.
    again = await run_scrub(store)
    assert again.missing == [sha]
    assert again.corrupt == []


async def test_missing_referenced_blob_is_reported(world: World) -> None:
    store = world.store
    kept = await put(store, world.alice, "alpha", "kept", data=b"kept")
    lost = await put(store, world.alice, "alpha", "lost", data=b"lost")
    orphan = await put(store, world.alice, "alpha", "orphan", data=b"orphan")
    await store.delete_object(world.alice, "alpha", "orphan")
    os.unlink(blob_path(store.base_path, lost.blobs[0].sha256))
    os.unlink(blob_path(store.base_path, orphan.blobs[0].sha256))
    report = await run_scrub(store)
    # An unreferenced blob without a file is GC's business, not data loss.
    assert report.missing == [lost.blobs[0].sha256]
    assert report.checked == 1
    assert report.corrupt == []
    assert not (await store.get_object_info(world.alice, "alpha", "kept")).corrupt
    assert kept.blobs[0].sha256 not in report.missing


def test_hash_file_reads_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)  # spans several 1 MiB reads
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(str(path)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert hash_file(str(tmp_path / "absent")) is None


async def test_progress_is_logged_while_scrubbing(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.meta import scrub

    for i in range(3):
        await put(world.store, world.alice, "alpha", f"p{i}", data=f"blob {i}".encode())
    monkeypatch.setattr(scrub, "PROGRESS_EVERY", 0.0)
    with caplog.at_level("INFO", logger="alexanderd.meta.scrub"):
        await run_scrub(world.store)
    lines = [r.getMessage() for r in caplog.records if "scrub progress" in r.getMessage()]
    assert lines and lines[-1].startswith("scrub progress: 2 of 3 blobs checked")
    assert any("scrub finished: 3 blobs checked" in r.getMessage() for r in caplog.records)
