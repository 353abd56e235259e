"""Blob references on PostgreSQL: a reference ledger that never makes two commits wait for
each other, and the blob-table hooks of GC and scrub.

A blob's reference count is its row's `refcount` plus the sum of its rows in `blob_deltas`:
a commit inserts a delta (+n when it takes references, -n when a version or part gives them
back) instead of updating the blob row, so commits of a popular blob (the empty object,
deduplicated uploads) never queue behind each other's COMMIT. Deltas are folded into the
row later (fold.py), and every read of a count adds what is still pending.

How a commit on one node and GC on another stay ordered:
- a commit reads the rows of the blobs it references FOR KEY SHARE (a shared lock that
  commits do not wait for among themselves, and that the ledger's foreign key takes
  anyway); GC locks the rows it may delete FOR UPDATE, which waits for every commit holding
  one, folds their deltas and deletes the rows still at 0, unlinking the files before its
  COMMIT. A commit that waited for GC finds no row, checks the disk, and refuses with
  BlobMissing (the revival rule);
- a blob without a row has no row to lock: whoever may create one (commits, part
  registrations) holds the blob's advisory lock shared (locks.py), and the leaked-file
  sweep holds it exclusive while it re-checks that no row appeared and removes the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio.to_thread
import asyncpg

from workers.meta.blob_refs import Plan, Tally, on_disk, plan_one
from workers.meta.postgres.db import Conn
from workers.meta.postgres.locks import FOLD
from workers.meta.store import BlobRow, QuarantineBlob, RemoveLeaked, UnlinkBlobs

# (sha256, size, refcount, has pending releases) of a locked blob row
Known = tuple[str, int, int, bool]

# Rows locked FOR KEY SHARE, with what the revival rule needs to know. A pending release
# (negative delta) may have brought the count to 0: such a blob gets the disk check too.
LOCK_ROWS = (
    "SELECT x.sha256, x.size, x.refcount, EXISTS (SELECT 1 FROM blob_deltas d"
    " WHERE d.sha256 = x.sha256 AND d.delta < 0) FROM (SELECT sha256, size, refcount"
    " FROM blobs WHERE sha256 = ANY({param}::text[]) ORDER BY sha256 FOR KEY SHARE) x"
)


async def lock_rows(conn: Conn, shas: list[str]) -> list[Known]:
    rows = await conn.fetch(LOCK_ROWS.format(param="$1"), sorted(shas))
    return [(str(r[0]), int(r[1]), int(r[2]), bool(r[3])) for r in rows]


def _plan(base: str, wanted: Tally, known: dict[str, Known]) -> Plan:
    plan: Plan = []
    for sha in sorted(wanted):
        size, count = wanted[sha]
        row = known.get(sha)
        # A count that may be 0 is treated as 0: the file must be there.
        seen = None if row is None else (row[1], 0 if row[3] else row[2])
        plan.append(plan_one(base, sha, size, count, seen))
    return plan


async def plan_references(base: str, wanted: Tally, known: Iterable[Known]) -> Plan:
    """Check that every wanted blob can be referenced (workers/meta/blob_refs.py's rules),
    given its locked row (`known`, from lock_rows or a combined read). Disk checks run in a
    worker thread (on a shared filesystem a stat may take a while); most commits need none:
    they reference blobs with live references."""
    rows = {row[0]: row for row in known}
    if all(sha in rows and rows[sha][2] > 0 and not rows[sha][3] for sha in wanted):
        return _plan(base, wanted, rows)
    return await anyio.to_thread.run_sync(_plan, base, wanted, rows)


@dataclass(slots=True)
class Change:
    """Reference changes of one write: rows to create, deltas for the rows that exist."""

    fresh: list[tuple[str, int, int]] = field(default_factory=list)  # (sha256, size, count)
    deltas: list[tuple[str, int]] = field(default_factory=list)  # (sha256, +/- count)

    @classmethod
    def of(cls, plan: Plan, released: Tally) -> Change:
        """The net change per blob: one taken and given back in the same write (an
        overwrite with the same content) does not move."""
        net: dict[str, int] = {}
        change = cls()
        for sha256, size, count, exists in plan:
            if exists:
                net[sha256] = net.get(sha256, 0) + count
            else:
                change.fresh.append((sha256, size, count))
        for sha256, (_, count) in released.items():
            net[sha256] = net.get(sha256, 0) - count
        change.deltas = [(sha, n) for sha, n in sorted(net.items()) if n]
        return change

    def args(self, now: float) -> list[object]:
        """The six parameters of CTES, in order."""
        return [
            [sha for sha, _, _ in self.fresh],
            [size for _, size, _ in self.fresh],
            [count for _, _, count in self.fresh],
            [sha for sha, _ in self.deltas],
            [n for _, n in self.deltas],
            now,
        ]


def ctes(first: int) -> str:
    """Two data-modifying CTEs applying a Change whose args() start at parameter $first.
    Writers creating the same new blob at once all hold its lock shared: the first insert
    wins, the others wait for it to commit and add their references as deltas instead."""
    p = [f"${first + i}" for i in range(6)]
    return (
        f"fresh AS (INSERT INTO blobs (sha256, size, refcount)"
        f" SELECT * FROM unnest({p[0]}::text[], {p[1]}::bigint[], {p[2]}::bigint[])"
        f" ON CONFLICT (sha256) DO NOTHING RETURNING sha256),"
        f" moved AS (INSERT INTO blob_deltas (sha256, delta, at)"
        f" SELECT s, n, {p[5]}::float8 FROM unnest({p[3]}::text[], {p[4]}::bigint[]) AS t(s, n)"
        f" UNION ALL SELECT s, n, {p[5]}::float8 FROM unnest({p[0]}::text[], {p[2]}::bigint[])"
        f" AS t(s, n) WHERE s NOT IN (SELECT sha256 FROM fresh) RETURNING 1)"
    )


async def apply(conn: Conn, change: Change, now: float) -> None:
    if change.fresh or change.deltas:
        await conn.execute(f"WITH {ctes(1)} SELECT 1", *change.args(now))


async def adopt_orphans(conn: Conn, base: str, wanted: Tally, now: float) -> None:
    """Register the blobs of a refused write that no row knows yet as orphans, so GC
    collects their files instead of leaking them (only files really present, right size).
    The caller holds these blobs' advisory locks."""
    shas = sorted(wanted)
    rows = await conn.fetch("SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])", shas)
    known = {row[0] for row in rows}

    def present() -> list[str]:
        return [s for s in shas if s not in known and on_disk(base, s, wanted[s][0])]

    fresh = await anyio.to_thread.run_sync(present)
    if fresh:
        await conn.execute(
            "INSERT INTO blobs (sha256, size, refcount, orphaned_at)"
            " SELECT sha, size, 0, $3 FROM unnest($1::text[], $2::bigint[]) AS t(sha, size)"
            " ON CONFLICT (sha256) DO NOTHING",
            fresh,
            [wanted[s][0] for s in fresh],
            now,
        )


# Counts and orphan times with the pending deltas added: a blob whose pending deltas bring
# it to 0 was orphaned by the latest of them.
_EFFECTIVE = (
    "SELECT b.sha256, b.size, b.refcount + COALESCE(d.n, 0),"
    " CASE WHEN d.n IS NULL THEN b.orphaned_at"
    " WHEN b.refcount + d.n = 0 THEN GREATEST(d.at, COALESCE(b.orphaned_at, 0)) END"
    " FROM blobs b LEFT JOIN LATERAL (SELECT sum(delta) AS n, max(at) AS at"
    " FROM blob_deltas WHERE sha256 = b.sha256) d ON true"
)


def _row(row: asyncpg.Record) -> BlobRow:
    orphaned_at = row[3]
    return BlobRow(
        sha256=str(row[0]),
        size=int(row[1]),
        refcount=int(row[2]),
        orphaned_at=None if orphaned_at is None else float(orphaned_at),
    )


async def orphaned(conn: Conn, older_than: float, limit: int) -> list[BlobRow]:
    """Orphans by their row alone: the caller folded the ledger first (fold.py)."""
    rows = await conn.fetch(
        "SELECT sha256, size, refcount, orphaned_at FROM blobs"
        " WHERE refcount = 0 AND orphaned_at <= $1 ORDER BY orphaned_at LIMIT $2",
        older_than,
        limit,
    )
    return [_row(row) for row in rows]


async def drop_orphans(
    conn: Conn, sha256s: list[str], older_than: float, unlink: UnlinkBlobs
) -> list[BlobRow]:
    shas = sorted(set(sha256s))
    # Folding is one transaction at a time (fold.py); so is this, which folds too.
    await conn.execute(f"SELECT pg_advisory_xact_lock({FOLD})")
    # Waits for every commit holding one of these rows; new ones then wait for us.
    await conn.execute(
        "SELECT 1 FROM blobs WHERE sha256 = ANY($1::text[]) ORDER BY sha256 FOR UPDATE", shas
    )
    await conn.execute(FOLD_BLOBS, shas)
    rows = await conn.fetch(
        "DELETE FROM blobs WHERE sha256 = ANY($1::text[]) AND refcount = 0"
        " AND orphaned_at <= $2 RETURNING sha256, size, refcount, orphaned_at",
        shas,
        older_than,
    )
    dropped = [_row(row) for row in rows]
    if dropped:
        # Files go before COMMIT, while the deleted rows stay locked: a commit waiting for
        # one then finds no row and no file (BlobMissing). A crash in between leaves rows
        # without files, which the next pass deletes and a revival refuses.
        await anyio.to_thread.run_sync(unlink, [row.sha256 for row in dropped])
    return dropped


# Folds every pending delta of the blobs in $1 into their rows; the caller holds the rows.
FOLD_BLOBS = (
    "WITH gone AS (DELETE FROM blob_deltas WHERE sha256 = ANY($1::text[])"
    " RETURNING sha256, delta, at),"
    " sums AS (SELECT sha256, sum(delta) AS n, max(at) AS at FROM gone GROUP BY sha256)"
    " UPDATE blobs b SET refcount = b.refcount + s.n, orphaned_at = CASE"
    " WHEN b.refcount + s.n = 0 THEN GREATEST(s.at, COALESCE(b.orphaned_at, 0)) END"
    " FROM sums s WHERE b.sha256 = s.sha256"
)


async def page(conn: Conn, after: str, limit: int) -> list[BlobRow]:
    rows = await conn.fetch(
        _EFFECTIVE + " WHERE b.sha256 > $1 ORDER BY b.sha256 LIMIT $2", after, limit
    )
    return [_row(row) for row in rows]


async def quarantine(conn: Conn, sha256: str, move: QuarantineBlob) -> int:
    """The row lock (taken here) makes the commits referencing the blob wait for the move;
    a blob being quarantined has a row, so no commit creates one meanwhile."""
    await conn.execute("SELECT 1 FROM blobs WHERE sha256 = $1 FOR UPDATE", sha256)
    if not await anyio.to_thread.run_sync(move, sha256):
        return 0
    # Rare (bitrot), so a scan of the blob lists is acceptable here and keeps every commit
    # free of a per-blob join table.
    status = await conn.execute(
        "UPDATE objects SET corrupt = true WHERE NOT corrupt AND strpos(blobs, $1) > 0",
        f'"{sha256}"',
    )
    return int(status.rsplit(" ", 1)[-1])


async def unknown(conn: Conn, sha256s: list[str]) -> list[str]:
    """The addresses among `sha256s` that have no blob row, in the given order."""
    rows = await conn.fetch("SELECT sha256 FROM blobs WHERE sha256 = ANY($1::text[])", sha256s)
    known = {row[0] for row in rows}
    return [sha256 for sha256 in sha256s if sha256 not in known]


async def drop_leaked(
    conn: Conn, sha256s: list[str], remove: RemoveLeaked
) -> list[tuple[str, int]]:
    """Inside a transaction holding these blobs' advisory locks exclusively: re-check that
    no row appeared (a commit creates one only holding the lock shared), then remove."""
    still = await unknown(conn, sha256s)
    return await anyio.to_thread.run_sync(remove, still) if still else []


async def get_state(conn: Conn, name: str) -> str:
    value = await conn.fetchval("SELECT value FROM gc_state WHERE name = $1", name)
    return "" if value is None else str(value)


async def set_state(conn: Conn, name: str, value: str) -> None:
    await conn.execute(
        "INSERT INTO gc_state (name, value) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        name,
        value,
    )
