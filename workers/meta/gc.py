"""Garbage collection, one pass at a time or as a background loop: orphaned blobs (refcount 0
past the grace period), multipart uploads past the multipart expiration (aborted: their parts
become orphans), leaked blob files that no row knows (leaks.py), and stale temp files.

A blob is deleted inside the writer's transaction (see MetaStore.drop_orphans): the row goes
only if it is still unreferenced, and the file is unlinked (and its shard directory fsynced)
before COMMIT, so no commit can take a reference in between.

Passes run under the GC lock (gc_lock.py): one at a time per process and, with Redis, across
nodes; a pass calls its guard before each destructive step so that a holder that lost the
lock stops. With Redis configured but down, no pass runs (see gc_lock.py).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from functools import partial

import anyio
import anyio.abc
import anyio.to_thread

from protocol.errors import RemoteError, Unavailable
from protocol.layout import blob_dir, blob_path, tmp_dir
from protocol.lifecycle import GCSettings
from protocol.meta import GCReport
from workers.meta import leaks, metrics
from workers.meta.gc_lock import BUSY_CODE, LOCK_UNAVAILABLE, GCExclusion, GCGuard
from workers.meta.store import MetaStore

log = logging.getLogger("alexanderd.meta.gc")

# Upper bound on blobs per write transaction: keeps each GC batch's unlinks and directory
# fsyncs from holding up the commits queued behind it for long.
DROP_CHUNK = 64
MIN_TEMP_AGE = 3600.0
DEFAULT_MULTIPART_EXPIRATION = 7 * 86400.0


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_blobs(base: str, sha256s: list[str]) -> None:
    """Remove blob files (already gone is fine) and make the removals durable."""
    dirs: set[str] = set()
    for sha256 in sha256s:
        try:
            os.unlink(blob_path(base, sha256))
        except FileNotFoundError:
            pass
        dirs.add(blob_dir(base, sha256))
    for folder in sorted(dirs):
        fsync_dir(folder)


def clean_temp(base: str, older_than: float, dry_run: bool) -> int:
    """Remove (or count) regular files in tmp/ last modified before `older_than`."""
    removed = 0
    try:
        entries = list(os.scandir(tmp_dir(base)))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or info.st_mtime >= older_than:
                continue
            if not dry_run:
                os.unlink(entry.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # a worker finished or removed it meanwhile
                log.warning("cannot remove temp file %s: %s", entry.path, exc)
            continue
        removed += 1
    return removed


def check_settings(
    settings: GCSettings, multipart_expiration: float = DEFAULT_MULTIPART_EXPIRATION
) -> None:
    problems = []
    if multipart_expiration <= 0:
        problems.append(f"multipart.expiration must be positive, got {multipart_expiration}")
    if settings.interval <= 0:
        problems.append(f"gc.interval must be positive, got {settings.interval}")
    if settings.grace_period < 0:
        problems.append(f"gc.grace_period must be >= 0, got {settings.grace_period}")
    if settings.batch_size < 1:
        problems.append(f"gc.batch_size must be at least 1, got {settings.batch_size}")
    if problems:
        raise ValueError("; ".join(problems))


async def run_gc(
    store: MetaStore,
    settings: GCSettings,
    *,
    grace_period: float | None = None,
    dry_run: bool | None = None,
    multipart_expiration: float = DEFAULT_MULTIPART_EXPIRATION,
    guard: GCGuard | None = None,
) -> GCReport:
    """One pass: up to `batch_size` orphans older than the grace period, up to `batch_size`
    expired uploads, one bounded step of the leaked-file sweep, then temp files. A dry run
    deletes (and aborts) nothing and reports what a real pass would delete and free.
    `examined`, `deleted` and `freed_bytes` count orphaned blobs and leaked files together.
    `guard` (held by the caller) is checked before each destructive step; a pass that lost
    the lock stops there with OperationAborted."""
    check = guard.check if guard is not None else _no_guard
    grace = settings.grace_period if grace_period is None else grace_period
    if grace < 0:
        raise RemoteError(f"grace period must be >= 0, got {grace}", code="InvalidArgument")
    dry = settings.dry_run if dry_run is None else dry_run
    started = time.monotonic()
    now = time.time()
    cutoff = now - grace
    candidates = await store.orphaned_blobs(cutoff, settings.batch_size)
    report = GCReport(examined=len(candidates), dry_run=dry)
    if dry:
        report.deleted = len(candidates)
        report.freed_bytes = sum(row.size for row in candidates)
    else:
        unlink = partial(unlink_blobs, store.base_path)
        for start in range(0, len(candidates), DROP_CHUNK):
            chunk = [row.sha256 for row in candidates[start : start + DROP_CHUNK]]
            await check()
            dropped = await store.drop_orphans(chunk, cutoff, unlink)
            report.deleted += len(dropped)
            report.freed_bytes += sum(row.size for row in dropped)
    aborted = 0
    if not dry:
        expired = now - multipart_expiration
        await check()
        aborted = await store.expire_uploads(expired, expired, settings.batch_size)
    # A leaked blob file is complete (renamed into place) and its commit, if any, follows
    # within milliseconds, so the grace period alone protects it; a temp file may belong to
    # an upload still streaming, so it also waits at least an hour whatever the grace.
    old_enough = now - max(grace, MIN_TEMP_AGE)
    if not dry:
        await check()
    leaked = await leaks.sweep(store, now - grace, settings.batch_size, dry)
    report.examined += leaked.examined
    report.deleted += leaked.deleted
    report.freed_bytes += leaked.freed_bytes
    if not dry:
        await check()
    report.temp_removed = await anyio.to_thread.run_sync(
        clean_temp, store.base_path, old_enough, dry
    )
    report.duration = time.monotonic() - started
    stats = store.stats
    stats.gc_runs += 1
    if not dry:
        stats.gc_deleted += report.deleted
        stats.gc_freed_bytes += report.freed_bytes
        stats.gc_uploads_aborted += aborted
        stats.gc_leaked_removed += leaked.deleted
    stats.gc_last_success = time.time()
    metrics.record_gc(report, stats.gc_last_success)
    log.info(
        "gc pass: examined=%d deleted=%d freed=%d uploads_aborted=%d leaked_removed=%d"
        " temp_removed=%d dry_run=%s",
        report.examined,
        report.deleted,
        report.freed_bytes,
        aborted,
        leaked.deleted,
        report.temp_removed,
        dry,
    )
    return report


async def _no_guard() -> None:
    return None


async def run_gc_exclusive(
    exclusion: GCExclusion,
    store: MetaStore,
    settings: GCSettings,
    *,
    grace_period: float | None = None,
    dry_run: bool | None = None,
    multipart_expiration: float = DEFAULT_MULTIPART_EXPIRATION,
) -> GCReport:
    """`run_gc` under the GC lock. ServiceUnavailable ("GC lock service unavailable") when
    Redis is configured but down; OperationAborted when another node holds the lock or this
    pass lost it."""
    async with exclusion.hold() as guard:
        return await run_gc(
            store,
            settings,
            grace_period=grace_period,
            dry_run=dry_run,
            multipart_expiration=multipart_expiration,
            guard=guard,
        )


async def serve_gc(
    settings: GCSettings,
    store: MetaStore,
    *,
    multipart_expiration: float = DEFAULT_MULTIPART_EXPIRATION,
    exclusion: GCExclusion | None = None,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run a pass every `interval` seconds until cancelled; a failed pass is logged and
    counted, and the next one runs on schedule. A pass skipped because another node holds
    the lock, or because the lock service is down, is logged and not counted as failed."""
    check_settings(settings, multipart_expiration)
    lock = exclusion if exclusion is not None else GCExclusion(store, None)
    task_status.started()
    while True:
        await anyio.sleep(settings.interval)
        try:
            await run_gc_exclusive(lock, store, settings, multipart_expiration=multipart_expiration)
        except RemoteError as exc:
            if isinstance(exc, Unavailable) and exc.message.startswith(LOCK_UNAVAILABLE):
                log.warning("gc pass skipped: %s", exc.message)
            elif exc.error_code == BUSY_CODE:
                log.info("gc pass skipped or stopped: %s", exc.message)
            else:
                store.stats.gc_failures += 1
                log.exception("gc pass failed")
        except Exception:
            store.stats.gc_failures += 1
            log.exception("gc pass failed")
