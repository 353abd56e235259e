"""`python -m bench`: run the S3 benchmark against alexanderd and peer servers, print tables.

Order: alexanderd (fsync on, every workload), alexanderd with `storage.fsync: false` (small
PUT only), then SeaweedFS and moto when they can run here. A peer that cannot start is a
note in the report; alexanderd failing, or erring on any request, exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml

from bench import report, servers
from bench.profiling import PY_SPY_PIP, Profiler, find_py_spy
from bench.sigv4 import check_against_botocore
from bench.stats import Figure
from bench.suite import DEFAULT, QUICK, LoadPool, Sizing, run_suite

ALL = ("alexanderd", "fronts-2", "fsync-off", "postgres", "hypercorn", "seaweedfs", "moto")
FRONTS_2 = "alexanderd fronts=2"
FSYNC_OFF = "alexanderd fsync=off"
POSTGRES = "alexanderd postgres"
EVERYTHING = frozenset({"small_put", "small_get", "big", "list", "multipart"})
SMALL = frozenset({"small_put", "small_get"})
# (column name, server starter, workloads to run against it)
Entry = tuple[str, Callable[[], AbstractContextManager[servers.Endpoint]], frozenset[str]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, under a minute")
    parser.add_argument(
        "--servers",
        default=",".join(ALL),
        help=f"comma-separated subset of {','.join(ALL)} (default: all that can run)",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--workloads",
        default=",".join(sorted(EVERYTHING)),
        help=f"comma-separated subset of {','.join(sorted(EVERYTHING))} (default: all)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="alexanderd config override, e.g. --set server.fronts=2 (value parsed as YAML)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy flame graphs of alexanderd's processes during small PUT and GET",
    )
    parser.add_argument(
        "--profile-workloads",
        default="small_put,small_get",
        metavar="NAMES",
        help="workloads --profile records (small_put, small_get, big_put, big_get, list_c1, ...)",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="sample only the thread holding the GIL (CPU spent in Python, not time preempted)",
    )
    parser.add_argument(
        "--profile-raw",
        action="store_true",
        help="collapsed stacks (.txt, one line per stack) instead of SVG flame graphs",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    if args.client_procs < 1:
        parser.error("--client-procs must be at least 1")
    args.servers = chosen
    workloads = frozenset(w.strip() for w in args.workloads.split(",") if w.strip())
    if not workloads or workloads - EVERYTHING:
        parser.error(f"--workloads: choose from {', '.join(sorted(EVERYTHING))}")
    args.workloads = workloads
    return args


def overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ["server.fronts=2"] into {"server": {"fronts": 2}}."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise SystemExit(f"--set {pair!r}: expected KEY.PATH=VALUE, e.g. server.fronts=2")
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {pair!r}: {part} is already a value, not a section")
        node[leaf] = yaml.safe_load(raw)
    return config


def plan(args: argparse.Namespace) -> list[Entry]:
    """Which servers run, in order, with the workloads each gets."""
    base = overrides(args.set)
    off = servers.daemon_config(base)
    off.setdefault("storage", {})["fsync"] = False
    # The default is one front process; a second one shows how the HTTP side scales.
    two = servers.daemon_config(base)
    two.setdefault("server", {})["fronts"] = 2
    # Peers find their binaries in their starters: finding moto's interpreter takes
    # seconds, which --quick overlaps with the other start-ups.
    known: dict[str, Entry] = {
        "alexanderd": ("alexanderd", lambda: servers.alexanderd("alexanderd", base), EVERYTHING),
        "fronts-2": (
            FRONTS_2,
            lambda: servers.alexanderd(FRONTS_2, two),
            frozenset({"small_put", "small_get", "big", "list"}),
        ),
        "fsync-off": (
            FSYNC_OFF,
            lambda: servers.alexanderd(FSYNC_OFF, off),
            frozenset({"small_put"}),
        ),
        "postgres": (
            POSTGRES,
            lambda: servers.alexanderd_postgres(POSTGRES, base),
            frozenset({"small_put", "small_get", "list"}),
        ),
        "hypercorn": ("hypercorn hello", servers.hypercorn_hello, SMALL),
        "seaweedfs": ("seaweedfs", servers.seaweedfs, EVERYTHING),
        "moto": ("moto", servers.moto, EVERYTHING),
    }
    return [known[name] for name in ALL if name in args.servers]


def open_all(
    stack: contextlib.ExitStack[bool | None],
    entries: list[Entry],
    progress: Callable[[str], None],
) -> list[servers.Endpoint | Exception]:
    """Enter every server's context in parallel; `stack` exits the ones that started."""

    def open_one(entry: Entry) -> tuple[AbstractContextManager[servers.Endpoint], servers.Endpoint]:
        manager = entry[1]()
        return manager, manager.__enter__()

    executor = ThreadPoolExecutor(max(1, len(entries)))
    futures = [executor.submit(open_one, entry) for entry in entries]
    opened: list[servers.Endpoint | Exception] = []
    try:
        wait(futures)
    finally:
        # Even on Ctrl-C: wait for the start-ups, then hand every started server to
        # `stack` so that none outlives the benchmark.
        executor.shutdown(wait=True)
        for entry, future in zip(entries, futures, strict=True):
            try:
                manager, endpoint = future.result()
            except Exception as exc:
                opened.append(exc)
            else:
                # Exits run last-in first-out: this message follows the server's own exit.
                stack.callback(progress, f"{entry[0]}: stopped")
                stack.push(manager.__exit__)
                opened.append(endpoint)
    return opened


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizing = dataclasses.replace(QUICK if args.quick else DEFAULT, procs=args.client_procs)
    began = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    check_against_botocore()
    notes: list[str] = []
    load = os.getloadavg()[0]
    if load > 0.5:
        notes.append(f"load average was {load:.2f} when the benchmark started: not an idle machine")
    profiler = None
    if args.profile:
        py_spy = find_py_spy()
        if py_spy is None:
            notes.append(f"--profile ignored: py-spy is not installed ({PY_SPY_PIP})")
        else:
            wanted = frozenset(w.strip() for w in args.profile_workloads.split(",") if w.strip())
            profiler = Profiler(
                py_spy, args.profile, wanted, raw=args.profile_raw, gil=args.profile_gil
            )
    results: dict[str, dict[str, Figure]] = {}
    failures: list[str] = []
    entries = plan(args)

    def measure(name: str, endpoint: servers.Endpoint, workloads: frozenset[str]) -> None:
        if endpoint.note:
            notes.append(f"{name}: {endpoint.note}")
        hook = None
        if profiler is not None and name == "alexanderd":
            hook = functools.partial(profiler.start, name)
        try:
            chosen = workloads & args.workloads
            results[name] = run_suite(pool, endpoint, sizing, chosen, progress, hook)
        except Exception as exc:
            fail(name, exc)

    def fail(name: str, exc: Exception) -> None:
        if isinstance(exc, servers.Unavailable):
            notes.append(f"{name} skipped: {exc}")
            progress(f"{name}: skipped: {exc}")
            return
        notes.append(f"{name} failed: {exc}")
        progress(f"{name}: FAILED: {exc}")
        failures.append(name)

    pool = LoadPool(sizing.procs)
    try:
        if args.quick:
            # Start-ups overlap instead of adding up; idle servers' background CPU shows
            # in the "other cores" column while another server is measured.
            notes.append("quick mode starts every server at once and measures them in turn")
            with contextlib.ExitStack() as stack:
                progress(f"starting {', '.join(name for name, _, _ in entries)}")
                for (name, _, workloads), started in zip(
                    entries, open_all(stack, entries, progress), strict=True
                ):
                    if isinstance(started, Exception):
                        fail(name, started)
                    else:
                        measure(name, started, workloads)
                progress("stopping servers")
        else:
            for name, start, workloads in entries:
                progress(f"{name}: starting")
                try:
                    with start() as endpoint:
                        measure(name, endpoint, workloads)
                except Exception as exc:
                    fail(name, exc)
    finally:
        pool.close()
        progress("removing server data")
        servers.remove_trash()
    if profiler is not None:
        notes += profiler.finish()
    progress("done")
    columns = [name for name, _, _ in entries if name != FSYNC_OFF and name in results]
    print(report.render(results, columns, sizing, "quick" if args.quick else "default", notes))
    if args.json:
        dump = {
            col: {k: dataclasses.asdict(f) for k, f in figs.items()}
            for col, figs in results.items()
        }
        args.json.write_text(
            json.dumps({"sizing": dataclasses.asdict(sizing), "results": dump}, indent=2)
        )
    errors = any(
        f.errors
        for col, figs in results.items()
        if col.startswith("alexanderd")
        for f in figs.values()
    )
    missed = args.check and _missed_targets(results.get("alexanderd", {}), sizing)
    failed = any(name.startswith("alexanderd") for name in failures)
    return 1 if failed or errors or missed else 0


def _missed_targets(figures: dict[str, Figure], sizing: Sizing) -> bool:
    return any(
        row.target is not None and (row.key not in figures or figures[row.key].value < row.target)
        for row in report.rows(sizing)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
