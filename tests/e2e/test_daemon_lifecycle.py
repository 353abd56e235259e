"""The supervisor with real children: readiness, crash restarts, drain, reload, control socket."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import s3_client
from tests.e2e.daemon import BIN, Daemon


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture()
def fresh() -> Any:
    d = Daemon()
    yield d
    d.cleanup()


def test_starts_on_port_zero_and_reports_address(daemon: Daemon) -> None:
    status = daemon.status()
    host, port = status["listen"][0].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    names = sorted(c["name"] for c in status["children"])
    assert names == ["blob-0", "blob-1", "front-0", "meta"]
    assert all(c["state"] == "running" and c["pid"] for c in status["children"])
    code, body = http_get(f"{daemon.endpoint}/healthz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    code, body = http_get(f"{daemon.endpoint}/readyz")
    assert code == 200, body
    assert json.loads(body)["checks"]["database"] == "ok"


def test_metrics_exporter_aggregates_children(daemon: Daemon) -> None:
    s3 = s3_client(daemon, s3={"addressing_style": "path"})
    s3.list_buckets()
    metrics_addr = daemon.status()["metrics"]
    code, body = http_get(f"http://{metrics_addr}/metrics")
    assert code == 200
    text = body.decode()
    assert 'alexander_http_requests_total{operation="ListBuckets",status="200"}' in text
    assert "alexander_http_request_duration_seconds_bucket" in text


def _load(d: Daemon, stop: threading.Event, errors: list[str], ok: list[int]) -> None:
    s3 = s3_client(d, s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    n = 0
    while not stop.is_set() and n < 5000:
        n += 1
        try:
            s3.put_object(Bucket="crash", Key=f"k{n % 50}", Body=os.urandom(100))
            ok.append(n)
        except Exception as exc:  # a request in flight during a crash may fail cleanly
            errors.append(type(exc).__name__)


@pytest.mark.parametrize("victim", ["blob-0", "meta", "front-0"])
def test_sigkill_child_is_restarted(fresh: Daemon, victim: str) -> None:
    fresh.start()
    fresh.create_key()
    s3_client(fresh, s3={"addressing_style": "path"}).create_bucket(Bucket="crash")
    stop, errors, ok = threading.Event(), [], []
    worker = threading.Thread(target=_load, args=(fresh, stop, errors, ok))
    worker.start()
    try:
        wait_until(lambda: len(ok) > 20, what="load to start")
        old_pid = fresh.child_pid(victim)
        os.kill(old_pid, signal.SIGKILL)

        def restarted() -> bool:
            child = next(c for c in fresh.status()["children"] if c["name"] == victim)
            return (
                child["state"] == "running" and child["pid"] != old_pid and child["restarts"] >= 1
            )

        wait_until(restarted, what=f"{victim} restart")
        wait_until(lambda: http_get(f"{fresh.endpoint}/readyz")[0] == 200, what="readyz")
        before = len(ok)
        wait_until(lambda: len(ok) > before + 20, what="requests to succeed again")
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()
    assert fresh.stop() == 0


def test_sigterm_drains_inflight_upload(fresh: Daemon) -> None:
    fresh.start()
    fresh.create_key()
    s3 = s3_client(fresh, s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    s3.create_bucket(Bucket="drain")
    body = os.urandom(48 * 1024 * 1024)
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            outcome["etag"] = s3.put_object(Bucket="drain", Key="big", Body=body)["ETag"]
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.05)  # let the upload begin streaming; the check below does not depend on it
    fresh.send_signal(signal.SIGTERM)
    thread.join(120)
    assert fresh.proc is not None
    assert fresh.proc.wait(timeout=120) == 0
    assert "etag" in outcome or "error" in outcome
    if "etag" in outcome:
        # Acknowledged: it must be there after a restart.
        fresh.start()
        got = s3_client(fresh, s3={"addressing_style": "path"}).get_object(
            Bucket="drain", Key="big"
        )
        assert got["Body"].read() == body


def test_sighup_reload(fresh: Daemon) -> None:
    fresh.start()
    fresh.create_key()
    good = json.loads(json.dumps(fresh.config))
    broken = json.loads(json.dumps(fresh.config))
    broken["server"]["no_such_key"] = 1
    fresh.write_config(broken)
    fresh.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload rejected" in fresh.log_path.read_text(), what="rejection logged")
    assert "no_such_key" in fresh.log_path.read_text()
    s3 = s3_client(fresh, s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="still-serving")
    good["server"]["blob_workers"] = 3
    fresh.write_config(good)
    fresh.send_signal(signal.SIGHUP)
    wait_until(lambda: fresh.status()["generation"] == 1, what="reload")
    names = sorted(c["name"] for c in fresh.wait_ready()["children"])
    assert names == ["blob-0", "blob-1", "blob-2", "front-0", "meta"]
    s3.put_object(Bucket="still-serving", Key="after-reload", Body=b"ok")
    assert s3.get_object(Bucket="still-serving", Key="after-reload")["Body"].read() == b"ok"
    assert fresh.stop() == 0


def test_boot_failure_stops_daemon_with_message(fresh: Daemon) -> None:
    bad_db = fresh.root / "dbdir"
    bad_db.mkdir()
    fresh.config["database"]["path"] = str(bad_db)  # a directory: the meta process cannot open it
    fresh.write_config()
    fresh.start(wait=False)
    assert fresh.proc is not None
    assert fresh.proc.wait(timeout=60) == 1
    assert "meta failed to boot" in fresh.log_path.read_text()


def test_invalid_config_is_rejected_before_start(fresh: Daemon) -> None:
    fresh.config["auth"]["master_key"] = "short"
    fresh.config["gc"] = {"interval": "soon"}
    fresh.write_config()
    result = subprocess.run(
        [str(BIN / "alexanderd"), "check-config", str(fresh.config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 78
    assert "auth.master_key" in result.stderr and "gc.interval" in result.stderr
    fresh.start(wait=False)
    assert fresh.proc is not None and fresh.proc.wait(timeout=30) == 78


def _ctl_as(uid: int, gid: int, path: str) -> str:
    """Send `status` on the control socket from a forked process running as uid/gid."""
    from protocol.base import ErrorReply
    from protocol.channel import read_message_blocking, write_message_blocking
    from protocol.control import CtlRequest

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setgid(gid)
            os.setuid(uid)
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            try:
                write_message_blocking(sock, CtlRequest(verb="status"))
            except BrokenPipeError:
                pass  # a refused peer may be answered and closed before it writes
            reply = read_message_blocking(sock)
            out = f"error:{reply.message}" if isinstance(reply, ErrorReply) else "served"
        except PermissionError:
            out = "EACCES"
        except Exception as exc:
            out = f"other:{exc}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    result = os.read(r, 4096).decode()
    os.close(r)
    return result


def test_control_socket_is_private(daemon: Daemon) -> None:
    mode = stat.S_IMODE(os.stat(daemon.control).st_mode)
    assert mode == 0o600
    nobody = pwd.getpwnam("nobody")
    assert _ctl_as(nobody.pw_uid, nobody.pw_gid, daemon.control) == "EACCES"
    # Even with the file mode loosened, the daemon checks the peer's uid (SO_PEERCRED).
    saved = [(p, stat.S_IMODE(os.stat(p).st_mode)) for p in (daemon.root, daemon.run_dir)]
    try:
        for p, _ in saved:
            os.chmod(p, 0o755)
        os.chmod(daemon.control, 0o666)
        result = _ctl_as(nobody.pw_uid, nobody.pw_gid, daemon.control)
        assert result.startswith("error:") and "permission denied" in result
    finally:
        os.chmod(daemon.control, 0o600)
        for p, m in saved:
            os.chmod(p, m)
    assert _ctl_as(os.getuid(), os.getgid(), daemon.control) == "served"


def test_ctl_errors_and_exit_codes(daemon: Daemon, tmp_path: Path) -> None:
    r = daemon.ctl_raw("user", "delete", "nobody-here")
    assert r.returncode == 1 and r.stderr.strip()
    r = daemon.ctl_raw("key", "revoke", "AKNOTAKEY")
    assert r.returncode == 1 and r.stderr.strip()
    r = subprocess.run(
        [str(BIN / "alexanderctl"), "--socket", str(tmp_path / "none.sock"), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 3 and "no control socket" in r.stderr
    r = subprocess.run(
        [str(BIN / "alexanderctl"), "frobnicate"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 2


def test_key_lifecycle_via_ctl(daemon: Daemon) -> None:
    daemon.ctl("user", "create", "carol")
    key = daemon.ctl("key", "create", "carol")
    assert len(key["secret"]) == 40
    listed = daemon.ctl("key", "list", "--user", "carol")["keys"]
    assert [k["access_key_id"] for k in listed] == [key["access_key_id"]]
    assert all(not k.get("secret") for k in listed)
    s3 = s3_client(daemon, s3={"addressing_style": "path"})
    s3._request_signer._credentials.access_key = key["access_key_id"]
    s3._request_signer._credentials.secret_key = key["secret"]
    s3.list_buckets()
    daemon.ctl("key", "revoke", key["access_key_id"])
    from botocore.exceptions import ClientError

    def revoked() -> bool:
        try:
            s3.list_buckets()
            return False
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "InvalidAccessKeyId"

    wait_until(revoked, what="revocation to apply")


def test_systemd_socket_activation(tmp_path: Path) -> None:
    d = Daemon()
    try:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with open(d.log_path, "ab") as log:
            d.proc = subprocess.Popen(
                [
                    "systemd-socket-activate",
                    "-l",
                    f"127.0.0.1:{port}",
                    str(BIN / "alexanderd"),
                    "run",
                    "--config",
                    str(d.config_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # With socket activation the daemon starts on the first connection.
        deadline = time.monotonic() + 60
        code = 0
        while time.monotonic() < deadline:
            try:
                code, _ = http_get(f"http://127.0.0.1:{port}/healthz", timeout=30)
            except urllib.error.URLError:
                code = 0  # systemd-socket-activate is not listening yet
            if code == 200:
                break
            time.sleep(0.1)
        assert code == 200, d.log_tail()
        assert d.status()["listen"] == [f"127.0.0.1:{port}"]
    finally:
        d.cleanup()


def test_migrate_status(daemon: Daemon) -> None:
    report = daemon.ctl("migrate", "status")
    assert report["driver"] == "sqlite"
    versions = [m["version"] for m in report["migrations"]]
    assert versions == sorted(versions) and versions[0] == 1
    assert all(m["applied_at"] for m in report["migrations"])
    text = daemon.ctl_raw("migrate", "status")
    assert text.returncode == 0


def test_reload_whose_new_child_cannot_boot_stops_the_daemon(fresh: Daemon) -> None:
    fresh.start()
    bad_db = fresh.root / "dbdir"
    bad_db.mkdir()
    fresh.config["database"]["path"] = str(bad_db)  # valid config, but meta cannot open it
    fresh.write_config()
    result = fresh.ctl_raw("reload")
    assert result.returncode == 1 and "reload failed" in result.stderr
    assert fresh.proc is not None and fresh.proc.wait(timeout=120) == 1
