"""The GC metrics of the meta process, in prometheus_client's multiprocess mode.

The supervisor sets PROMETHEUS_MULTIPROC_DIR for its children and its exporter sums the
files every process writes there. prometheus_client picks file-backed values once, when it is
first imported, so this module imports it (and creates the metrics) lazily, and only when that
variable is set: without it (tests, tools) nothing is exported and MetaStats' plain counters
are the only record. Metric names:

    alexander_gc_runs_total                         counter, every pass (dry runs included)
    alexander_gc_deleted_blobs_total                counter, blob files deleted
    alexander_gc_freed_bytes_total                  counter, bytes those files held
    alexander_gc_last_success_timestamp_seconds     gauge (max over processes), epoch seconds
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from protocol.meta import GCReport

MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


@dataclass(frozen=True, slots=True)
class _Metrics:
    runs: Any
    deleted: Any
    freed: Any
    last_success: Any
    scrub_checked: Any
    scrub_total: Any


_metrics: _Metrics | None = None
_lock = threading.Lock()


def enabled() -> bool:
    return any(os.environ.get(name) for name in MULTIPROC_ENV)


def _create() -> _Metrics:
    from prometheus_client import Counter, Gauge

    # registry=None: in multiprocess mode the exporter reads the files, not a registry, and
    # creating them twice in one process (tests) must not collide in the default registry.
    return _Metrics(
        runs=Counter("alexander_gc_runs_total", "Garbage-collection passes run.", registry=None),
        deleted=Counter(
            "alexander_gc_deleted_blobs_total",
            "Blob files deleted by garbage collection.",
            registry=None,
        ),
        freed=Counter(
            "alexander_gc_freed_bytes_total",
            "Bytes freed by garbage collection.",
            registry=None,
        ),
        last_success=Gauge(
            "alexander_gc_last_success_timestamp_seconds",
            "When the last garbage-collection pass finished without error (epoch seconds).",
            multiprocess_mode="max",
            registry=None,
        ),
        scrub_checked=Gauge(
            "alexander_scrub_checked_blobs",
            "Blobs the running (or last) scrub has re-hashed so far.",
            multiprocess_mode="max",
            registry=None,
        ),
        scrub_total=Gauge(
            "alexander_scrub_total_blobs",
            "Blobs the running (or last) scrub set out to check.",
            multiprocess_mode="max",
            registry=None,
        ),
    )


def _get() -> _Metrics | None:
    global _metrics
    if not enabled():
        return None
    with _lock:
        if _metrics is None:
            _metrics = _create()
        return _metrics


def record_gc(report: GCReport, finished: float) -> None:
    """Count one successful pass (a dry run counts as a run but deletes nothing)."""
    metrics = _get()
    if metrics is None:
        return
    metrics.runs.inc()
    if not report.dry_run:
        metrics.deleted.inc(report.deleted)
        metrics.freed.inc(report.freed_bytes)
    metrics.last_success.set(finished)


def record_scrub_progress(checked: int, total: int) -> None:
    """Progress of a scrub: checked / total is its completion ratio."""
    metrics = _get()
    if metrics is None:
        return
    metrics.scrub_checked.set(checked)
    metrics.scrub_total.set(total)
