"""The benchmark workloads, in order, against one S3 endpoint, and the pool that drives them.

Load runs in separate processes (`LoadPool`, spawn start method) so the client never shares
an interpreter or a GIL with the server; every workload is bounded by a request count and
by a duration (`Sizing`). Workloads: small PUT, small GET, 64 MiB PUT and GET, and
ListObjectsV2 pages over a prefix populated for the purpose.
"""

from __future__ import annotations

import dataclasses
import http.client
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from bench.loadgen import LoadResult, LoadSpec, Op, Target, run_load, warm_up
from bench.servers import Endpoint
from bench.sigv4 import Signer, uri_path
from bench.stats import Figure, cpu_delta, machine_busy_seconds, rate, read_cpu, stream

BUCKET = "bench-bucket"
MIB = 1024 * 1024
# Time between submitting a workload and its common start line: lets every process
# open its connections (and prepare large bodies) before the clock starts.
_START_LEAD = 0.3


@dataclass(frozen=True)
class Sizing:
    small_count: int
    small_seconds: float
    big_size: int
    big_reps: int
    big_seconds: float
    list_keys: int
    populate_seconds: float
    list_seconds: float
    list_concurrency: tuple[int, ...]
    warm_seconds: float
    concurrency: int = 32
    procs: int = 2
    multipart_size: int = 256 * MIB


QUICK = Sizing(
    small_count=6_000,
    small_seconds=1.0,
    big_size=64 * MIB,
    big_reps=1,
    big_seconds=30.0,
    list_keys=2_000,
    populate_seconds=2.5,
    list_seconds=1.0,
    list_concurrency=(8,),
    warm_seconds=0.3,
)
DEFAULT = Sizing(
    small_count=100_000,
    small_seconds=8.0,
    big_size=64 * MIB,
    big_reps=3,
    big_seconds=60.0,
    list_keys=10_000,
    populate_seconds=25.0,
    list_seconds=5.0,
    list_concurrency=(1, 8),
    warm_seconds=2.0,
)


class LoadPool:
    """A pool of load-generator processes, warmed up so start-up is never timed."""

    def __init__(self, procs: int) -> None:
        if procs < 1:
            raise ValueError("need at least one load-generator process")
        self.procs = procs
        self._executor = ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn"))
        list(self._executor.map(_warm, range(procs)))

    def run(self, specs: list[LoadSpec]) -> list[LoadResult]:
        start_at = time.time() + _START_LEAD
        futures = [
            self._executor.submit(run_load, dataclasses.replace(s, start_at=start_at))
            for s in specs
        ]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _warm(_: int) -> int:
    # Keep each warm-up busy briefly so every pool process takes one, not one process all.
    time.sleep(0.2)
    return warm_up()


def _spread(
    op: Op,
    target: Target,
    concurrency: int,
    count: int,
    seconds: float,
    procs: int,
    size: int = 4096,
    prefix: str = "small",
    keys: tuple[tuple[str, int], ...] = (),
) -> list[LoadSpec]:
    """Split concurrency and count over up to `procs` processes."""
    procs = max(1, min(procs, concurrency))
    specs = []
    for worker in range(procs):
        share = concurrency // procs + (1 if worker < concurrency % procs else 0)
        quota = count // procs + (1 if worker < count % procs else 0)
        specs.append(
            LoadSpec(op, target, share, max(1, quota), seconds, 0.0, size, prefix, worker, keys)
        )
    return specs


def prepare_bucket(ep: Endpoint, timeout: float = 60.0) -> None:
    """Create the bucket and wait until a PUT into it succeeds (SeaweedFS grows volumes lazily)."""
    host = f"{ep.host}:{ep.port}"
    signer = Signer(ep.access_key, ep.secret_key, ep.region, host)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=30)
        try:
            path = uri_path(BUCKET)
            conn.request("PUT", path, headers=dict(signer.headers("PUT", path)))
            response = conn.getresponse()
            body = response.read()
            if response.status not in (200, 409):
                raise RuntimeError(f"{ep.name}: CreateBucket -> {response.status}: {body[:300]!r}")
            path = uri_path(BUCKET, "probe")
            conn.request("PUT", path, body=b"", headers=dict(signer.headers("PUT", path)))
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return
            last = f"PUT probe -> {response.status}: {body[:300]!r}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        time.sleep(0.5)
    raise RuntimeError(f"{ep.name}: bucket not writable in {timeout}s: {last}")


def run_suite(
    pool: LoadPool,
    ep: Endpoint,
    sizing: Sizing,
    workloads: frozenset[str],
    progress: Callable[[str], None],
    on_start: Callable[[str, dict[str, int], float], None] | None = None,
) -> dict[str, Figure]:
    """Run the selected workloads in order; keys are the workload names used by the report."""
    prepare_bucket(ep)
    target = Target(ep.host, ep.port, ep.access_key, ep.secret_key, ep.region, BUCKET)
    figures: dict[str, Figure] = {}
    c, procs = sizing.concurrency, pool.procs
    # Unmeasured warm-up: servers allocate on first use (SeaweedFS grows its volumes then,
    # which made the first measured second 100x slower than the rest).
    progress(f"{ep.name}: warm-up")
    pool.run(_spread("put", target, c, 1_000_000, sizing.warm_seconds, procs, prefix="warm"))

    def measure(
        name: str, specs: list[LoadSpec], summarize: Callable[[list[LoadResult]], Figure]
    ) -> list[LoadResult]:
        progress(f"{ep.name}: {name}")
        pids = ep.pids()
        if on_start is not None:
            on_start(name, pids, _START_LEAD + max(s.duration for s in specs))
        before, busy, began = read_cpu(pids), machine_busy_seconds(), time.monotonic()
        results = pool.run(specs)
        figure = summarize(results)
        figure.server_cpu = cpu_delta(before, read_cpu(pids))
        figure.machine_busy = machine_busy_seconds() - busy
        figure.window = time.monotonic() - began
        figures[name] = figure
        return results

    if "small_put" in workloads or "small_get" in workloads:
        put = measure(
            "small_put",
            _spread("put", target, c, sizing.small_count, sizing.small_seconds, procs, size=4096),
            rate,
        )
        written = tuple(w for r in put for w in r.written)
        if "small_get" in workloads:
            measure(
                "small_get",
                _spread(
                    "get", target, c, sizing.small_count, sizing.small_seconds, procs, keys=written
                ),
                rate,
            )
    if "big" in workloads:
        big_put = measure(
            "big_put",
            [
                LoadSpec(
                    "bigput",
                    target,
                    1,
                    sizing.big_reps,
                    sizing.big_seconds,
                    0.0,
                    size=sizing.big_size,
                    prefix="big",
                )
            ],
            lambda results: stream(results, sizing.big_size),
        )
        written = tuple(w for r in big_put for w in r.written)
        if any(n for _, n in written):
            measure(
                "big_get",
                [
                    LoadSpec(
                        "bigget", target, 1, sizing.big_reps, sizing.big_seconds, 0.0, keys=written
                    )
                ],
                lambda results: stream(results, sizing.big_size),
            )
    if "multipart" in workloads:
        from bench.multipart import run_multipart

        progress(f"{ep.name}: multipart")
        pids = ep.pids()
        before, busy, began = read_cpu(pids), machine_busy_seconds(), time.monotonic()
        figure = run_multipart(
            ep, BUCKET, sizing.multipart_size, sizing.big_reps, began + sizing.big_seconds
        )
        figure.server_cpu = cpu_delta(before, read_cpu(pids))
        figure.machine_busy = machine_busy_seconds() - busy
        figure.window = time.monotonic() - began
        figures["multipart"] = figure
    if "list" in workloads:
        populate = measure(
            "list_populate",
            _spread(
                "put",
                target,
                c,
                sizing.list_keys,
                sizing.populate_seconds,
                procs,
                size=64,
                prefix="list",
            ),
            rate,
        )
        keys = sum(n for r in populate for _, n in r.written)
        for lc in sizing.list_concurrency:
            # A count bound far above what the duration allows: time is the real bound here.
            count = max(lc, 1_000_000)
            listed = measure(
                f"list_c{lc}",
                _spread("list", target, lc, count, sizing.list_seconds, procs, prefix="list"),
                rate,
            )
            figure = figures[f"list_c{lc}"]
            seen = sum(r.list_keys for r in listed)
            # Full pages prove the listing really walked the keys, not an empty prefix.
            figure.note = f"{keys:,} keys, {seen / max(1, figure.ops):,.0f} keys/page"
            if keys < sizing.list_keys:
                figure.note += (
                    f"; only {keys:,} of {sizing.list_keys:,} keys were written within the "
                    f"{sizing.populate_seconds:.0f} s bound"
                )
    return figures
