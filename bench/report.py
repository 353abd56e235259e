"""Print the benchmark's figures as plain-text tables: servers side by side, targets beside.

Three tables: the workloads against every server (with the issue's targets for alexanderd),
fsync on versus off for durable small PUTs, and where alexanderd's CPU went per request
(per process, from /proc), followed by errors and notes. Output is plain ASCII so it pastes
into an issue or bench/README.md as-is.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

from bench.stats import Figure, fsync_latency_ms
from bench.suite import Sizing

Results = dict[str, dict[str, Figure]]  # server column -> workload -> figure
# Cores used by processes outside the benchmark above which a figure is flagged as noisy.
_NOISY = 0.25


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    target: float | None


def rows(sizing: Sizing) -> list[Row]:
    c = sizing.concurrency
    reps = f"median of {sizing.big_reps}" if sizing.big_reps > 1 else "1 run"
    mib = sizing.big_size // (1024 * 1024)
    found = [
        Row("small_put", f"PUT 4 KiB, c={c}", "ops/s", 4500),
        Row("small_get", f"GET 4 KiB, c={c}", "ops/s", 6000),
        Row("big_put", f"PUT {mib} MiB, 1 stream, {reps}", "MB/s", 400),
        Row("big_get", f"GET {mib} MiB, 1 stream, {reps}", "MB/s", 600),
        Row(
            "multipart",
            f"multipart PUT {sizing.multipart_size // (1024 * 1024)} MiB, 16 MiB parts x4, {reps}",
            "MB/s",
            400,
        ),
    ]
    found += [
        Row(f"list_c{lc}", f"LIST {sizing.list_keys:,} keys, 1000/page, c={lc}", "pages/s", 400)
        for lc in sizing.list_concurrency
    ]
    found.append(Row("list_populate", f"PUT 64 B, c={c} (fills LIST)", "ops/s", None))
    return found


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}; "
        f"write(4 KiB)+fsync in /tmp: {fsync_latency_ms():.2f} ms (median)"
    )


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _cell(figure: Figure | None, unit: str) -> str:
    if figure is None:
        return "-"
    text = f"{_num(figure.value)} {unit}"
    if figure.errors:
        text += f" ({figure.errors} err)"
    return text


def _latency(figure: Figure | None) -> str:
    if figure is None or figure.p50_ms is None:
        return "-"
    if figure.p99_ms is None:
        return f"{figure.p50_ms:,.0f} ms/req"
    return f"{figure.p50_ms:.1f} / {figure.p99_ms:.1f}"


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(out)


def main_table(results: Results, columns: list[str], sizing: Sizing) -> str:
    header = ["workload", "target", *columns]
    body: list[list[str]] = []
    for row in rows(sizing):
        if not any(row.key in results.get(col, {}) for col in columns):
            continue
        cells = [row.label, f">= {row.target:,.0f}" if row.target else ""]
        for col in columns:
            figure = results.get(col, {}).get(row.key)
            cell = _cell(figure, row.unit)
            if col == "alexanderd" and row.target and figure is not None:
                cell += "  ok" if figure.value >= row.target and not figure.errors else "  MISS"
            cells.append(cell)
        body.append(cells)
        if row.unit == "ops/s" or row.unit == "pages/s":
            latency = [_latency(results.get(col, {}).get(row.key)) for col in columns]
            body.append(["  p50 / p99 latency (ms)", "", *latency])
    return _table(header, body)


def fsync_table(on: Figure | None, off: Figure | None) -> str:
    header = ["durable small PUT (4 KiB)", "ops/s", "p50 / p99 (ms)", "client CPU"]
    body = []
    for label, figure in (("storage.fsync: true", on), ("storage.fsync: false", off)):
        if figure is not None:
            body.append(
                [label, _cell(figure, ""), _latency(figure), f"{figure.client_cores:.2f} cores"]
            )
    text = _table(header, body)
    if on and off and off.value > 0:
        text += f"\nfsync on runs at {on.value / off.value:.2f}x the fsync-off small-PUT rate"
    return text


def cpu_table(figures: dict[str, Figure], sizing: Sizing) -> str:
    """Server CPU microseconds per request by process, plus how busy the client was."""
    wanted = [r for r in rows(sizing) if r.key in figures and figures[r.key].ops]
    names = sorted({n for r in wanted for n in figures[r.key].server_cpu})
    header = ["CPU per request (us)", *names, "server cores", "client cores", "other cores"]
    body = []
    for row in wanted:
        figure = figures[row.key]
        per_op = figure.server_us_per_op()
        cores = sum(figure.server_cpu.values()) / figure.wall if figure.wall else 0.0
        client = f"{figure.client_cores:.2f}" if figure.client_cores else "-"
        body.append(
            [
                row.label,
                *(f"{per_op.get(n, 0):,.0f}" for n in names),
                f"{cores:.2f}",
                client,
                f"{figure.other_cores():.2f}",
            ]
        )
    return _table(header, body)


def problems(results: Results) -> list[str]:
    lines = []
    for col, figures in results.items():
        noisy = [k for k, f in figures.items() if f.other_cores() > _NOISY]
        if noisy:
            worst = max(figures[k].other_cores() for k in noisy)
            lines.append(
                f"{col}: other processes kept up to {worst:.1f} cores busy during "
                f"{', '.join(noisy)}: those figures understate the server"
            )
        for key, figure in figures.items():
            if figure.errors:
                lines.append(f"{col} {key}: {figure.errors} errors; first: {figure.first_error}")
            if key.startswith("list_c") and figure.note:
                lines.append(f"{col} {key}: {figure.note}")
    return lines


def render(
    results: Results,
    columns: list[str],
    sizing: Sizing,
    mode: str,
    notes: list[str],
) -> str:
    parts = [
        f"alexanderd benchmark, {mode} mode, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        machine(),
        f"load average at the end: {os.getloadavg()[0]:.2f} (1 min)",
        f"load: {sizing.procs} client processes, HTTP/1.1 keep-alive, SigV4 signed payloads; "
        "MB = 10^6 bytes; latency is per request as the client sees it",
        "",
        main_table(results, columns, sizing),
    ]
    if "alexanderd" in results or "alexanderd fsync=off" in results:
        parts += [
            "",
            fsync_table(
                results.get("alexanderd", {}).get("small_put"),
                results.get("alexanderd fsync=off", {}).get("small_put"),
            ),
        ]
    if results.get("alexanderd"):
        parts += ["", cpu_table(results["alexanderd"], sizing)]
    extra = problems(results) + notes
    if extra:
        parts += ["", *(f"note: {line}" for line in extra)]
    return "\n".join(parts)
