"""Folding the reference ledger (`blob_deltas`, see blobs.py) into the blob rows.

One folder at a time across all nodes (a transaction-scoped advisory lock): it takes the
oldest pending deltas (by id), adds them to their rows and deletes them, in one statement.
Folding a prefix of the ledger in id order never drives a count below 0: a delta that gives
references back was inserted after the references it gives back were committed, so after
them in id order. The row update takes FOR NO KEY UPDATE, which the commits' FOR KEY SHARE
does not wait for, so folding never holds up a commit.

Each open store folds in the background every FOLD_INTERVAL seconds (skipping a round when
another node holds the lock); GC folds everything before it looks for orphans.
"""

from __future__ import annotations

import logging

import anyio
import anyio.abc

from workers.meta.postgres.db import Conn, Database
from workers.meta.postgres.locks import FOLD

log = logging.getLogger("alexanderd.meta.postgres")

FOLD_INTERVAL = 2.0
FOLD_BATCH = 5000

_FOLD_OLDEST = (
    "WITH gone AS (DELETE FROM blob_deltas WHERE id IN ("
    "  SELECT id FROM blob_deltas ORDER BY id LIMIT $1)"
    " RETURNING sha256, delta, at),"
    " sums AS (SELECT sha256, sum(delta) AS n, max(at) AS at FROM gone GROUP BY sha256),"
    " folded AS (UPDATE blobs b SET refcount = b.refcount + s.n, orphaned_at = CASE"
    "  WHEN b.refcount + s.n = 0 THEN GREATEST(s.at, COALESCE(b.orphaned_at, 0)) END"
    "  FROM sums s WHERE b.sha256 = s.sha256 RETURNING 1)"
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM folded)"
)


async def _fold_batch(conn: Conn, wait: bool) -> int:
    if wait:
        await conn.execute(f"SELECT pg_advisory_xact_lock({FOLD})")
    elif not await conn.fetchval(f"SELECT pg_try_advisory_xact_lock({FOLD})"):
        return 0
    row = await conn.fetchrow(_FOLD_OLDEST, FOLD_BATCH)
    return 0 if row is None else int(row[0])


async def fold_pending(db: Database, *, wait: bool) -> int:
    """Fold the whole ledger, a batch per transaction; returns the deltas folded. Without
    `wait`, gives up at once when another folder holds the lock."""
    total = 0
    while True:
        folded = await db.write(lambda conn: _fold_batch(conn, wait))
        total += folded
        if folded < FOLD_BATCH:
            return total


async def serve_fold(
    db: Database, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Fold in the background until cancelled; a failed round (database down) is logged
    and the next one runs on schedule."""
    task_status.started()
    while not db.closed:
        await anyio.sleep(FOLD_INTERVAL)
        if db.closed:
            return
        try:
            await fold_pending(db, wait=False)
        except Exception as exc:
            log.warning("folding the reference ledger failed: %s", exc)
