"""sd_notify, log reopening and readiness as systemd and logrotate see them."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.daemon import Daemon


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(60)
    d = Daemon()
    try:
        d.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not any("WATCHDOG=1" in m for m in seen) and time.monotonic() < deadline:
            seen.append(listener.recv(4096).decode())
        assert any("READY=1" in m for m in seen), seen
        assert any("WATCHDOG=1" in m for m in seen), seen
        d.send_signal(signal.SIGTERM)
        while not any("STOPPING=1" in m for m in seen) and time.monotonic() < deadline:
            seen.append(listener.recv(4096).decode())
        assert any("STOPPING=1" in m for m in seen)
        assert d.proc is not None and d.proc.wait(timeout=60) == 0
    finally:
        listener.close()
        d.cleanup()


def test_usr1_reopens_the_log_file() -> None:
    d = Daemon()
    log_file = d.root / "alexanderd.log"
    d.config["logging"]["file"] = str(log_file)
    d.write_config()
    try:
        d.start()
        d.create_key()
        rotated = d.root / "alexanderd.log.1"
        os.rename(log_file, rotated)
        d.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not log_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        d.ctl("user", "create", "after-rotation")
        d.create_key("after-rotation")
        deadline = time.monotonic() + 30
        while log_file.stat().st_size == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log_file.stat().st_size > 0
        assert rotated.stat().st_size > 0
        assert all(json.loads(line)["role"] for line in log_file.read_text().splitlines())
    finally:
        d.cleanup()


def test_readyz_reports_a_stalled_meta_process() -> None:
    d = Daemon()
    try:
        d.start()
        assert get(f"{d.endpoint}/readyz")[0] == 200
        meta = d.child_pid("meta")
        os.kill(meta, signal.SIGSTOP)
        try:
            code, body = get(f"{d.endpoint}/readyz")
            assert code == 503
            assert body["status"] == "unready"
            assert get(f"{d.endpoint}/healthz")[0] == 200
        finally:
            os.kill(meta, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while get(f"{d.endpoint}/readyz")[0] != 200:
            assert time.monotonic() < deadline, "readyz did not recover"
            time.sleep(0.1)
    finally:
        d.cleanup()
