"""A real alexanderd for end-to-end tests: temp config, real processes, real sockets.

Readiness is read from the control socket (`alexanderctl status`), and the bound address
comes from there too: tests never guess ports.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from alexanderd.ctl.client import Refused, Unreachable, call
from alexanderd.ctl.main import parser as ctl_parser
from alexanderd.ctl.main import to_request

BIN = Path(sys.executable).parent


class Daemon:
    def __init__(self, root: Path | None = None, config: dict[str, Any] | None = None) -> None:
        # Unix socket paths are limited to 108 bytes: keep the runtime dir short.
        self.root = Path(root or tempfile.mkdtemp(prefix="axd-", dir="/tmp"))
        self.run_dir = self.root / "run"
        self.data_dir = self.root / "data"
        self.config_path = self.root / "alexanderd.yaml"
        self.log_path = self.root / "daemon.log"
        self.master_key = secrets.token_hex(32)
        self.config: dict[str, Any] = {
            "server": {
                "host": "127.0.0.1",
                "port": 0,
                "runtime_dir": str(self.run_dir),
                "shutdown_timeout": "20s",
            },
            "storage": {"filesystem": {"base_path": str(self.data_dir)}},
            "database": {"driver": "sqlite"},
            "auth": {"master_key": self.master_key, "key_cache_ttl": "1s"},
            "metrics": {"enabled": True, "port": 0},
            "logging": {"level": "info", "format": "json"},
        }
        merge_config(self.config, config or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.access_key = ""
        self.secret_key = ""
        self.write_config()

    def write_config(self, config: dict[str, Any] | None = None) -> None:
        self.config_path.write_text(yaml.safe_dump(config or self.config))

    @property
    def control(self) -> str:
        return str(self.run_dir / "control.sock")

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "alexanderd"), "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status: dict[str, Any] = call(self.control, "status")
            except (Unreachable, Refused):
                status = {}
            if status and all(c["state"] == "running" for c in status["children"]):
                return status
            if time.monotonic() > deadline:
                raise RuntimeError(f"daemon not ready in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def ctl_raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "alexanderctl"), "--socket", self.control, "--json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ctl(self, *args: str) -> Any:
        """alexanderctl's parsing and request, in this process (a CLI start per call would
        cost a second each on a busy machine); ctl_raw runs the real command."""
        verb, ctl_args = to_request(ctl_parser().parse_args(["--json", *args]))
        try:
            return call(self.control, verb, ctl_args)
        except (Unreachable, Refused) as exc:
            raise RuntimeError(f"alexanderctl {' '.join(args)}: {exc}") from exc

    def status(self) -> dict[str, Any]:
        return dict(self.ctl("status"))

    @property
    def address(self) -> str:
        return str(self.status()["listen"][0])

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.config["server"].get("tls", {}).get("enabled") else "http"
        return f"{scheme}://{self.address}"

    def create_key(self, user: str = "tester") -> tuple[str, str]:
        users = {u["name"] for u in self.ctl("user", "list")["users"]}
        if user not in users:
            self.ctl("user", "create", user)
        key = self.ctl("key", "create", user)
        if not self.access_key:
            self.access_key, self.secret_key = key["access_key_id"], key["secret"]
        return key["access_key_id"], key["secret"]

    def child_pid(self, name: str) -> int:
        for child in self.status()["children"]:
            if child["name"] == name:
                return int(child["pid"])
        raise KeyError(name)

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL the supervisor and every child (a crash of the whole daemon)."""
        assert self.proc is not None
        pids = [c["pid"] for c in self.status()["children"] if c["pid"]]
        self.proc.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def cleanup(self) -> None:
        try:
            self.stop(signal.SIGKILL if self.proc and self.proc.poll() is None else signal.SIGTERM)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def merge_config(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Lay `extra` over `base` in place, section by section."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value
