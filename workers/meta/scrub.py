"""Scrub: re-hash every blob against its content address; quarantine the ones that rotted
(and mark the objects using them corrupt), report the ones that vanished."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from functools import partial

import anyio
import anyio.abc
import anyio.to_thread

from protocol.layout import blob_dir, blob_path, quarantine_dir
from protocol.lifecycle import ScrubSettings
from protocol.meta import ScrubReport
from workers.meta import metrics
from workers.meta.gc import fsync_dir
from workers.meta.store import MetaStore

log = logging.getLogger("alexanderd.meta.scrub")

READ_SIZE = 1024 * 1024
PAGE = 256
PROGRESS_EVERY = 5.0  # seconds between progress lines of a long scrub


def hash_file(path: str) -> tuple[str, int] | None:
    """(sha256 hex, bytes read) of a file, or None if it does not exist."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(READ_SIZE):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest(), size


def move_to_quarantine(base: str, sha256: str) -> bool:
    """Rename a blob into quarantine/ (kept for inspection, never served again). False if
    the file is already gone."""
    target_dir = quarantine_dir(base)
    os.makedirs(target_dir, exist_ok=True)
    target = os.path.join(target_dir, sha256)
    if os.path.exists(target):
        target = f"{target}.{time.time_ns()}"
    try:
        os.rename(blob_path(base, sha256), target)
    except FileNotFoundError:
        return False
    fsync_dir(target_dir)
    fsync_dir(blob_dir(base, sha256))
    return True


async def _count_blobs(store: MetaStore) -> int:
    count, after = 0, ""
    while rows := await store.blob_page(after, PAGE):
        count += len(rows)
        after = rows[-1].sha256
    return count


async def run_scrub(store: MetaStore) -> ScrubReport:
    started = time.monotonic()
    report = ScrubReport()
    base = store.base_path
    after = ""
    total = await _count_blobs(store)
    next_report = time.monotonic() + PROGRESS_EVERY
    metrics.record_scrub_progress(0, total)
    while rows := await store.blob_page(after, PAGE):
        after = rows[-1].sha256
        for row in rows:
            if time.monotonic() >= next_report:
                # A scrub of a large store takes hours: say how far it is, in the log
                # (journald) and as gauges next to the GC ones.
                next_report = time.monotonic() + PROGRESS_EVERY
                log.info(
                    "scrub progress: %d of %d blobs checked (%d bytes), %d corrupt, %d missing",
                    report.checked, total, report.bytes_checked, len(report.corrupt),
                    len(report.missing),
                )  # fmt: skip
                metrics.record_scrub_progress(report.checked, total)
            found = await anyio.to_thread.run_sync(hash_file, blob_path(base, row.sha256))
            if found is None:
                # An unreferenced blob may legitimately be half-collected; only a referenced
                # one is data loss.
                if row.refcount > 0:
                    report.missing.append(row.sha256)
                continue
            digest, size = found
            report.checked += 1
            report.bytes_checked += size
            if digest != row.sha256:
                marked = await store.quarantine_blob(row.sha256, partial(move_to_quarantine, base))
                report.corrupt.append(row.sha256)
                report.objects_marked += marked
                log.error("blob %s is corrupt (hashes to %s); quarantined", row.sha256, digest)
    report.duration = time.monotonic() - started
    metrics.record_scrub_progress(report.checked, total)
    log.info(
        "scrub finished: %d blobs checked (%d bytes) in %.1fs, %d corrupt, %d missing",
        report.checked, report.bytes_checked, report.duration, len(report.corrupt),
        len(report.missing),
    )  # fmt: skip
    stats = store.stats
    stats.scrub_runs += 1
    stats.scrub_corrupt += len(report.corrupt)
    stats.scrub_last_success = time.time()
    if report.missing:
        log.error("scrub: %d referenced blobs are missing", len(report.missing))
    return report


async def serve_scrub(
    settings: ScrubSettings,
    store: MetaStore,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Scrub every `interval` seconds until cancelled; a failed run is logged."""
    if settings.interval <= 0:
        raise ValueError(f"scrub.interval must be positive, got {settings.interval}")
    task_status.started()
    while True:
        await anyio.sleep(settings.interval)
        try:
            await run_scrub(store)
        except Exception:
            log.exception("scrub failed")
