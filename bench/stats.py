"""Turn raw load-generator results into figures: rates, latency percentiles, CPU shares.

A `Figure` is one cell of the final table. Server CPU comes from /proc/<pid>/stat of each
server process, sampled around the measured window, so a figure also says which process
spent the time (front, blob worker, meta) without a profiler.
"""

from __future__ import annotations

import array
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

from bench.loadgen import LoadResult

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Figure:
    value: float  # in the workload's unit (ops/s, MB/s, pages/s)
    ops: int = 0
    errors: int = 0
    first_error: str = ""
    p50_ms: float | None = None
    p99_ms: float | None = None
    wall: float = 0.0
    client_cores: float = 0.0  # load-generator CPU over the window, in cores
    server_cpu: dict[str, float] = field(default_factory=dict)  # seconds per process
    machine_busy: float = 0.0  # CPU seconds every process on the machine used in the window
    window: float = 0.0  # seconds over which server_cpu and machine_busy were sampled
    samples: list[float] = field(default_factory=list)  # per-repetition rates
    note: str = ""

    def other_cores(self) -> float:
        """Cores busy with neither the server nor the load generator: a noisy neighbour."""
        if self.window <= 0:
            return 0.0
        ours = sum(self.server_cpu.values()) + self.client_cores * self.wall
        return max(0.0, (self.machine_busy - ours) / self.window)

    def server_us_per_op(self) -> dict[str, float]:
        if not self.ops:
            return {}
        return {name: 1e6 * cpu / self.ops for name, cpu in self.server_cpu.items()}


def read_cpu(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each process (0 for one that has gone)."""
    found: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                # The command name (field 2) may contain spaces; fields after ')' are fixed.
                fields = f.read().rsplit(")", 1)[1].split()
            found[name] = (int(fields[11]) + int(fields[12])) / _TICKS
        except (FileNotFoundError, ProcessLookupError, IndexError):
            found[name] = 0.0
    return found


def machine_busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine since boot (the `cpu` line of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    return (sum(fields[:8]) - fields[3] - fields[4]) / _TICKS


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) for name in before}


def _merge(results: list[LoadResult]) -> tuple[int, int, str, array.array[float]]:
    ops = sum(r.ops for r in results)
    errors = sum(r.errors for r in results)
    first = next((r.first_error for r in results if r.first_error), "")
    latencies: array.array[float] = array.array("d")
    for r in results:
        latencies.frombytes(r.latencies)
    return ops, errors, first, latencies


def _percentile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


def rate(results: list[LoadResult], per_op: float = 1.0) -> Figure:
    """Throughput over the common window: ops x per_op / (last finish - common start)."""
    ops, errors, first, latencies = _merge(results)
    start = min(r.started for r in results)
    wall = max(r.finished for r in results) - start
    figure = Figure(
        value=ops * per_op / wall if wall > 0 else 0.0,
        ops=ops,
        errors=errors,
        first_error=first,
        wall=wall,
        client_cores=sum(r.cpu_seconds for r in results) / wall if wall > 0 else 0.0,
    )
    if latencies:
        ordered = sorted(latencies)
        figure.p50_ms = 1000 * _percentile(ordered, 0.50)
        figure.p99_ms = 1000 * _percentile(ordered, 0.99)
    return figure


def stream(results: list[LoadResult], size: int) -> Figure:
    """Single-stream transfer rate in MB/s (10^6 bytes): the median over repetitions."""
    ops, errors, first, latencies = _merge(results)
    samples = [size / seconds / 1e6 for seconds in latencies if seconds > 0]
    wall = max(r.finished for r in results) - min(r.started for r in results)
    return Figure(
        value=statistics.median(samples) if samples else 0.0,
        ops=ops,
        errors=errors,
        first_error=first,
        p50_ms=1000 * statistics.median(latencies) if latencies else None,
        wall=wall,
        samples=samples,
    )


def fsync_latency_ms(directory: str = "/tmp", rounds: int = 40) -> float:
    """Median time of write(4 KiB) + fsync in `directory`: the floor under every durable PUT."""
    samples = []
    fd, path = tempfile.mkstemp(prefix="bench-fsync-", dir=directory)
    try:
        block = os.urandom(4096)
        for _ in range(rounds):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            samples.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    return 1000 * statistics.median(samples)
