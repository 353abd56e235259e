"""The Prometheus metrics of the front and the supervisor, shared across processes.

Every process writes its samples to its own files in one directory (prometheus_client's
multiprocess mode); the supervisor's exporter sums the directory. The rules that makes work:

- PROMETHEUS_MULTIPROC_DIR must be in the environment before `prometheus_client` is first
  imported: the library picks file-backed or in-memory values once, at import. The systemd unit
  sets it; `alexanderd run` sets it before importing anything that imports prometheus_client, and
  children inherit it.
- The supervisor calls `prepare_multiproc_dir(path)` at start, before any metric is used, so a
  previous run's files are not summed into this one.
- The supervisor calls `child_exited(pid)` for each child that exits: a dead process's live gauges
  (in-flight requests) are dropped, while its counters keep counting in the sum.

Importing this module has no side effect: the metrics are created, and prometheus_client imported,
on first access to one of them (`metrics.REQUESTS`), which lets the supervisor import it, then
prepare the directory. The meta process defines the GC metrics (`alexander_gc_runs_total`,
`alexander_gc_freed_bytes_total`, `alexander_gc_last_success_timestamp_seconds`) in the same
directory; the exporter sums whatever is there.

Without the variable (tests, tools) the metrics still work, in memory, for this process only.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# 1 ms (a cached HEAD) to 60 s (a large PUT): the AlexanderHighLatency alert reads p95 against 1 s.
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
# Files prometheus_client writes: counter_<pid>.db, histogram_<pid>.db, gauge_<mode>_<pid>.db, ...
_METRIC_FILE: Final = re.compile(r"(counter|gauge_[a-z]+|histogram|summary)_\d+\.db")

# Declared here for type checkers; created by `_create` on first access (see module docstring).
REQUESTS: Counter  # alexander_http_requests_total{operation,status}
LATENCY: Histogram  # alexander_http_request_duration_seconds{operation}
BYTES_IN: Counter  # alexander_http_received_bytes_total
BYTES_OUT: Counter  # alexander_http_sent_bytes_total
IN_FLIGHT: Gauge  # alexander_http_requests_in_flight
CHILD_RESTARTS: Counter  # alexander_child_restarts_total{role}
CHILD_UP: Gauge  # alexander_child_up{role,child}

_NAMES: Final = frozenset(
    ("REQUESTS", "LATENCY", "BYTES_IN", "BYTES_OUT", "IN_FLIGHT", "CHILD_RESTARTS", "CHILD_UP")
)


def _create() -> dict[str, Any]:
    from prometheus_client import Counter, Gauge, Histogram

    return {
        "REQUESTS": Counter(
            "alexander_http_requests_total",
            "S3 requests answered, by operation and HTTP status.",
            ["operation", "status"],
        ),
        "LATENCY": Histogram(
            "alexander_http_request_duration_seconds",
            "Time from request start to the last byte of the response, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
        ),
        "BYTES_IN": Counter(
            "alexander_http_received_bytes_total", "Request body bytes received from clients."
        ),
        "BYTES_OUT": Counter(
            "alexander_http_sent_bytes_total", "Response body bytes sent to clients."
        ),
        # livesum: the sum over running fronts; a dead front's requests are not in flight.
        "IN_FLIGHT": Gauge(
            "alexander_http_requests_in_flight",
            "Requests being served now.",
            multiprocess_mode="livesum",
        ),
        "CHILD_RESTARTS": Counter(
            "alexander_child_restarts_total",
            "Child processes restarted by the supervisor after they died, by role.",
            ["role"],
        ),
        # Only the supervisor writes it; livesum drops it with the supervisor, so a dead daemon
        # does not leave its children reported up.
        "CHILD_UP": Gauge(
            "alexander_child_up",
            "1 while the child process is running and has booted, else 0.",
            ["role", "child"],
            multiprocess_mode="livesum",
        ),
    }


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = globals()
    # Created all together, once: later accesses find them in the module dict, never come here.
    for key, metric in _create().items():
        module[key] = metric
    return module[name]


def prepare_multiproc_dir(path: str) -> None:
    """Make `path` this run's metrics directory: create it, remove the metric files a previous
    run left, and export it as PROMETHEUS_MULTIPROC_DIR to this process and later children.
    Call once, in the supervisor, before any metric is used."""
    if not path:
        raise ValueError("the metrics directory path must not be empty")
    path = os.path.abspath(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            f"prometheus_client was imported before {MULTIPROC_ENV} was set, so this process "
            "keeps its metrics in memory where the exporter cannot see them; set the variable "
            "before importing anything that imports prometheus_client"
        )
    if _NAMES & globals().keys():
        raise RuntimeError(
            "metrics were used before prepare_multiproc_dir(); their files would be deleted"
        )
    os.environ[MULTIPROC_ENV] = path
    os.makedirs(path, mode=0o750, exist_ok=True)
    for entry in os.scandir(path):
        # Only prometheus_client's own files: a wrong path must not cost anyone their data.
        if _METRIC_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


def child_exited(pid: int) -> None:
    """Forget the live gauges of the exited process `pid` (its counters stay in the sums).
    A no-op when metrics are in memory (PROMETHEUS_MULTIPROC_DIR unset)."""
    if pid <= 0:
        raise ValueError(f"not a process id: {pid}")
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    from prometheus_client import multiprocess

    # prometheus_client leaves this function unannotated.
    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
