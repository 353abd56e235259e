"""The transaction-scoped advisory locks that serialize writers across processes and nodes.

- One lock per object key (bigint form, a 64-bit hash of bucket "/" key: bucket names cannot
  contain "/"): every write of a key (commit, complete, delete) holds it, so a conditional
  write reads the key's latest version and replaces it with nothing in between, whatever
  node the other writer runs on. A hash collision only serializes two unrelated keys.
- One lock per blob address (two-int4 form, the first 64 bits of the SHA-256, a separate
  lock space), a reader-writer lock: whoever may create a blob row (commits, part
  registrations) holds it shared, so they never wait for each other; the leaked-file
  sweep holds it exclusive while it re-checks that a file has no row and removes it, so
  no row can appear for a file being removed. Existing rows are protected by row locks
  (blobs.py).
- One fixed lock for applying schema migrations, one for folding the reference ledger
  (fold.py; GC's deletions take it too).

Locks are taken in one order (keys, then blobs, each ascending) in the same round trip as
BEGIN, and released by COMMIT/ROLLBACK: nothing outlives a transaction, which keeps them
safe under PgBouncer's transaction pooling. PostgreSQL's lock table must hold them while
held (max_locks_per_transaction x max_connections entries): a 1,000-key DeleteObjects holds
up to 1,000 key locks, which is why bulk deletes are limited per process (store.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

MIGRATIONS = 0x616C6578_6D696772  # "alexmigr"
FOLD = 0x616C6578_666F6C64  # "alexfold": one folder of the reference ledger at a time
_INLINE = 16  # more locks than this are taken by one statement over an array


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def key_lock(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(
        f"{bucket}/".encode() + key.encode("utf-8"), digest_size=8, person=b"alex-key"
    ).digest()
    return _signed(int.from_bytes(digest, "big"), 64)


def blob_lock(sha256: str) -> tuple[int, int]:
    return (_signed(int(sha256[0:8], 16), 32), _signed(int(sha256[8:16], 16), 32))


@dataclass(slots=True)
class Locks:
    """The advisory locks a write transaction takes right after BEGIN."""

    keys: set[int] = field(default_factory=set)
    blobs: set[tuple[int, int]] = field(default_factory=set)
    exclusive_blobs: bool = False

    @classmethod
    def of(cls, bucket: str, keys: list[str], blobs: list[str] | None = None) -> Locks:
        """A writer's locks: its keys, and its blobs shared."""
        return cls(
            keys={key_lock(bucket, key) for key in keys},
            blobs={blob_lock(sha256) for sha256 in blobs or []},
        )

    @classmethod
    def sweep(cls, blobs: list[str]) -> Locks:
        """The leaked-file sweep's locks: its blobs, exclusive."""
        return cls(blobs={blob_lock(sha256) for sha256 in blobs}, exclusive_blobs=True)

    def sql(self) -> str:
        """Statements appended to BEGIN (one simple-query round trip). Only integers we
        computed are interpolated."""
        parts: list[str] = []
        keys = sorted(self.keys)
        if len(keys) > _INLINE:
            # unnest yields the array in order, so the locks are still taken ascending.
            listed = ",".join(str(int(k)) for k in keys)
            parts.append(f"SELECT pg_advisory_xact_lock(k) FROM unnest('{{{listed}}}'::bigint[]) k")
        else:
            parts += [f"SELECT pg_advisory_xact_lock({int(k)})" for k in keys]
        blob_fn = "pg_advisory_xact_lock" + ("" if self.exclusive_blobs else "_shared")
        parts += [f"SELECT {blob_fn}({int(a)}, {int(b)})" for a, b in sorted(self.blobs)]
        return "".join(f"; {part}" for part in parts)
