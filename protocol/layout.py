"""Where things live inside a data directory (`storage.filesystem.base_path`).

    blobs/ab/cd/<sha256>   content-addressed blobs, two-level sharding
    tmp/                   uploads in progress (same filesystem, so rename is atomic)
    quarantine/            blobs whose content no longer matches their address
    meta.db                SQLite metadata (+ -wal, -shm) when the driver is sqlite

Object keys never appear in a path: only hex digests do, so no key can escape the store.
This is the store's on-disk contract, shared like the wire format: blob workers and meta
write and sweep it, fronts read blobs straight from it (protocol.blobfile).
"""

from __future__ import annotations

import os
import re

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: str) -> bool:
    return _SHA256.fullmatch(value) is not None


def blob_dir(base: str, sha256: str) -> str:
    return os.path.join(base, "blobs", sha256[0:2], sha256[2:4])


def blob_path(base: str, sha256: str) -> str:
    if not is_sha256(sha256):
        # A digest is the only thing ever joined to a path; refuse anything else outright.
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return os.path.join(blob_dir(base, sha256), sha256)


def tmp_dir(base: str) -> str:
    return os.path.join(base, "tmp")


def quarantine_dir(base: str) -> str:
    return os.path.join(base, "quarantine")


def tmp_prefix(node: str, worker_index: int) -> str:
    """Temp names start with the node and worker, so a restarting worker removes only its own
    leftovers (other nodes may share the directory in distributed mode)."""
    # "@" appears in no host name, so one node's prefix is never the start of another's
    # (with "-", node "x" worker 1 would have matched node "x-w1" worker 0).
    return f"{node}@w{worker_index}@"
