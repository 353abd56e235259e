"""The sweep of leaked blob files: files under blobs/ that no blob row knows, left by a PUT
whose commit never arrived (client gone, front crashed between the blob worker's rename and
the commit).

A file is removed only when its mtime is older than the cutoff (GC's grace period: a commit
follows its blob's rename within milliseconds, so the grace covers one on its way), and only
inside the writer after re-checking that no row appeared: a commit creates its row in that
same thread, after checking the file exists, so the two cannot interleave badly (the worst
case is a commit refused with BlobMissing, never a row without a file).

Each pass walks shard directories (blobs/ab/cd) round-robin from a cursor saved in the
database, until it has looked at `batch_size` files or DIR_BUDGET directories, so a huge
store is never listed whole in one pass and a restart resumes where the last pass stopped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import partial

import anyio.to_thread

from protocol.layout import blob_dir, blob_path, is_sha256
from workers.meta.store import MetaStore

log = logging.getLogger("alexanderd.meta.gc")

CURSOR = "leak-sweep-shard"
SHARDS = 256 * 256
# One whole lap of the 65,536 shard directories when there are few files: listing an empty
# or missing shard costs microseconds, and a pass that stopped early would leave leaked
# files behind it until later passes came round (the file budget still bounds big stores).
DIR_BUDGET = 65536
DROP_CHUNK = 64


@dataclass(slots=True)
class Scan:
    found: list[tuple[str, int]] = field(default_factory=list)  # (sha256, size), old enough
    next_shard: int = 0
    files_seen: int = 0
    dirs_visited: int = 0


@dataclass(frozen=True, slots=True)
class LeakReport:
    examined: int = 0  # leaked files old enough to go
    deleted: int = 0
    freed_bytes: int = 0


def _scan_shard(folder: str, top: str, sub: str, cutoff: float, scan: Scan) -> None:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        name = entry.name
        # Only files at their own content address are blobs; anything else is not ours.
        if not (is_sha256(name) and name[0:2] == top and name[2:4] == sub):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        scan.files_seen += 1
        if info.st_mtime < cutoff:
            scan.found.append((name, info.st_size))


def scan(
    base: str, start: int, file_budget: int, cutoff: float, dir_budget: int = DIR_BUDGET
) -> Scan:
    """Walk shards from `start` (at most one lap) until `file_budget` files were seen or
    `dir_budget` directories visited; a missing top-level directory skips its 256 shards
    at once. Returns the old files found and the shard to start from next time."""
    result = Scan()
    blobs_root = os.path.join(base, "blobs")
    index = start % SHARDS
    consumed = 0
    while (
        consumed < SHARDS and result.files_seen < file_budget and result.dirs_visited < dir_budget
    ):
        top = f"{index >> 8:02x}"
        result.dirs_visited += 1
        if not os.path.isdir(os.path.join(blobs_root, top)):
            step = 256 - (index & 0xFF)
        else:
            sub = f"{index & 0xFF:02x}"
            _scan_shard(os.path.join(blobs_root, top, sub), top, sub, cutoff, result)
            step = 1
        index = (index + step) % SHARDS
        consumed += step
    result.next_shard = index
    return result


def remove_leaked(base: str, cutoff: float, sha256s: list[str]) -> list[tuple[str, int]]:
    """Unlink each file still older than `cutoff` (a dedup PUT may have touched it since the
    scan) and make the removals durable. Returns (sha256, size) of the files removed."""
    removed: list[tuple[str, int]] = []
    dirs: set[str] = set()
    for sha256 in sha256s:
        path = blob_path(base, sha256)
        try:
            info = os.stat(path)
            if info.st_mtime >= cutoff:
                continue
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append((sha256, info.st_size))
        dirs.add(blob_dir(base, sha256))
    for folder in sorted(dirs):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return removed


async def sweep(store: MetaStore, cutoff: float, batch_size: int, dry_run: bool) -> LeakReport:
    """One bounded step of the round-robin sweep (see the module docstring). A dry run
    reports what it would remove and leaves the cursor where it was."""
    saved = await store.gc_state(CURSOR)
    start = int(saved) if saved.isdigit() else 0
    found = await anyio.to_thread.run_sync(scan, store.base_path, start, batch_size, cutoff)
    leaked = set(await store.unknown_blobs([sha256 for sha256, _ in found.found]))
    candidates = [(sha256, size) for sha256, size in found.found if sha256 in leaked]
    if dry_run:
        return LeakReport(len(candidates), len(candidates), sum(size for _, size in candidates))
    remove = partial(remove_leaked, store.base_path, cutoff)
    removed: list[tuple[str, int]] = []
    for first in range(0, len(candidates), DROP_CHUNK):
        chunk = [sha256 for sha256, _ in candidates[first : first + DROP_CHUNK]]
        removed += await store.drop_leaked(chunk, remove)
    await store.set_gc_state(CURSOR, str(found.next_shard))
    if removed:
        log.info(
            "removed %d leaked blob files (%d bytes)", len(removed), sum(s for _, s in removed)
        )
    return LeakReport(len(candidates), len(removed), sum(size for _, size in removed))
