"""Optional sampling profiles of alexanderd's processes while a workload runs (py-spy).

py-spy attaches to running processes from outside, so the daemon needs no changes and the
profile shows the real process tree under real load. Used by `python -m bench --profile DIR`;
without py-spy installed the option explains how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PY_SPY_PIP = "pip install py-spy"


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """Records one flame graph per server process for each selected workload."""

    def __init__(
        self,
        py_spy: str,
        out_dir: Path,
        workloads: frozenset[str],
        raw: bool = False,
        gil: bool = False,
    ) -> None:
        self.py_spy = py_spy
        self.raw = raw
        self.gil = gil
        self.out_dir = out_dir
        self.workloads = workloads
        self._running: list[tuple[subprocess.Popen[bytes], Path]] = []
        out_dir.mkdir(parents=True, exist_ok=True)

    def start(self, server: str, workload: str, pids: dict[str, int], seconds: float) -> None:
        if workload not in self.workloads:
            return
        for name, pid in pids.items():
            suffix = ".txt" if self.raw else ".svg"
            out = self.out_dir / f"{server}-{workload}-{name}{suffix}".replace(" ", "_")
            # --nonblocking: sampling must not pause the process it measures.
            args = [self.py_spy, "record", "--nonblocking", "--rate", "200", "--pid", str(pid)]
            args += ["--duration", str(max(1, round(seconds))), "--output", str(out)]
            if self.raw:
                args += ["--format", "raw"]
            if self.gil:
                args.append("--gil")
            log = out.with_suffix(".log")
            with open(log, "wb") as sink:
                proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
            self._running.append((proc, out))

    def finish(self) -> list[str]:
        """Wait for every recording; return one line per output (or per failure)."""
        lines = []
        for proc, out in self._running:
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            if code == 0 and out.exists():
                lines.append(f"profile: {out}")
            else:
                lines.append(f"profile failed ({code}): see {out.with_suffix('.log')}")
        self._running.clear()
        return lines
