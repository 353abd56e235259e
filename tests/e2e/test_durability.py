"""Never lose an acknowledged write: crash torture, GC races, a full disk, bitrot.

The torture test runs a few cycles in `make test`; set ALEXANDERD_TORTURE_CYCLES for more.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from alexanderd.ctl.client import call
from tests.e2e.conftest import s3_client
from tests.e2e.daemon import Daemon

CYCLES = int(os.environ.get("ALEXANDERD_TORTURE_CYCLES", "3"))
DELETED = "deleted"


def content(key: str, n: int) -> bytes:
    seed = hashlib.sha256(f"{key}/{n}".encode()).digest()
    return seed * (1 + n % 7) * 64  # 2 KiB .. 14 KiB, distinct per (key, n)


class Model:
    """Per key (one writer thread per key): the last acknowledged state and the states of
    operations whose outcome is unknown (they were in flight when something crashed)."""

    def __init__(self) -> None:
        self.acked: dict[str, str] = {}
        self.uncertain: dict[str, set[str]] = {}
        self.lock = threading.Lock()

    def ack(self, key: str, state: str) -> None:
        with self.lock:
            self.acked[key] = state
            self.uncertain.pop(key, None)

    def unsure(self, key: str, state: str) -> None:
        with self.lock:
            self.uncertain.setdefault(key, set()).add(state)

    def allowed(self, key: str) -> set[str]:
        return {self.acked.get(key, DELETED), *self.uncertain.get(key, set())}


def writer(d: Daemon, owner: int, model: Model, stop: threading.Event, counter: list[int]) -> None:
    s3 = s3_client(d, s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    rng = random.Random(owner)
    n = 0
    while not stop.is_set() and n < 100_000:
        n += 1
        key = f"t{owner}/k{rng.randrange(8)}"
        delete = rng.random() < 0.25
        body = content(key, n)
        state = DELETED if delete else hashlib.md5(body).hexdigest()
        try:
            if delete:
                s3.delete_object(Bucket="torture", Key=key)
            else:
                s3.put_object(Bucket="torture", Key=key, Body=body)
        except Exception:
            model.unsure(key, state)
            time.sleep(0.05)  # the daemon is restarting; do not spin
            continue
        model.ack(key, state)
        counter[0] += 1


def verify(d: Daemon, model: Model) -> int:
    s3 = s3_client(d, s3={"addressing_style": "path"})
    checked = 0
    for key in sorted(set(model.acked) | set(model.uncertain)):
        allowed = model.allowed(key)
        try:
            got = s3.get_object(Bucket="torture", Key=key)
            body = got["Body"].read()
            state = hashlib.md5(body).hexdigest()
            assert got["ETag"] == f'"{state}"', key
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "NoSuchKey", exc
            state = DELETED
        assert state in allowed, f"{key}: found {state}, allowed {allowed}"
        checked += 1
    return checked


def refcounts_exact(d: Daemon) -> None:
    db = sqlite3.connect(f"file:{d.data_dir / 'meta.db'}?mode=ro", uri=True)
    refs: Counter[str] = Counter()
    for (blobs,) in db.execute("SELECT blobs FROM objects WHERE delete_marker = 0"):
        refs.update(b["sha256"] for b in json.loads(blobs))
    rows = dict(db.execute("SELECT sha256, refcount FROM blobs"))
    db.close()
    for sha, count in refs.items():
        assert rows.get(sha) == count, f"blob {sha}: refcount {rows.get(sha)} != {count} refs"
    files = {p.name for p in (d.data_dir / "blobs").rglob("*") if p.is_file()}
    orphans = files - set(refs)
    assert not orphans, f"{len(orphans)} orphan blob files survived GC"
    assert set(refs) <= files, "a referenced blob file is missing"


@pytest.fixture()
def torture_daemon() -> Iterator[Daemon]:
    d = Daemon(config={"gc": {"interval": "1h", "grace_period": "0s"}})
    d.start()
    d.create_key()
    s3_client(d, s3={"addressing_style": "path"}).create_bucket(Bucket="torture")
    yield d
    d.cleanup()


def test_crash_torture(torture_daemon: Daemon) -> None:
    d, model, rng = torture_daemon, Model(), random.Random(7)
    total_ops = 0
    for cycle in range(CYCLES):
        stop, counter = threading.Event(), [0]
        threads = [
            threading.Thread(target=writer, args=(d, i, model, stop, counter)) for i in range(4)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while counter[0] < 30 + rng.randrange(60) and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = rng.choice(["daemon", "meta", "blob-0", "front-0"]) if cycle else "daemon"
        if victim == "daemon":
            d.kill()
            d.start()
        else:
            os.kill(d.child_pid(victim), signal.SIGKILL)
            d.wait_ready()
        time.sleep(0.2)  # a little load after the restart too
        stop.set()
        for t in threads:
            t.join(60)
        total_ops += counter[0]
        assert total_ops > 0
        verify(d, model)
    result = call(d.control, "gc.run", {"grace_period": "0"})
    assert result["deleted"] >= 0
    checked = verify(d, model)
    assert d.stop() == 0
    refcounts_exact(d)
    print(f"torture: {CYCLES} crash cycles, {total_ops} acknowledged ops, {checked} keys checked")


def test_gc_race_never_loses_a_revived_blob(torture_daemon: Daemon) -> None:
    d = torture_daemon
    s3 = s3_client(d, s3={"addressing_style": "path"})
    body = b"identical content " * 300
    stop = threading.Event()
    gc_runs = [0]

    def collect() -> None:
        while not stop.is_set() and gc_runs[0] < 2000:
            call(d.control, "gc.run", {"grace_period": "0"})
            gc_runs[0] += 1

    collector = threading.Thread(target=collect)
    collector.start()
    live: list[str] = []
    try:
        for i in range(150):
            # Drop every reference (the blob becomes an orphan GC may take at any moment),
            # then write the same content again: either the blob survives or it is written anew.
            for key in live:
                s3.delete_object(Bucket="torture", Key=key)
            live = []
            for j in range(2):
                key = f"race/{i}/{j}"
                try:
                    s3.put_object(Bucket="torture", Key=key, Body=body)
                except ClientError as exc:  # a lost race is a retryable 5xx, never a lie
                    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
                    continue
                live.append(key)
            for key in live:
                assert s3.get_object(Bucket="torture", Key=key)["Body"].read() == body
    finally:
        stop.set()
        collector.join(60)
    assert gc_runs[0] > 10


def test_disk_full_is_a_clean_error(tmp_path: Path) -> None:
    d = Daemon()
    mount = d.root / "data"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], check=True)
    try:
        d.start()
        d.create_key()
        s3 = s3_client(d, s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        s3.create_bucket(Bucket="full")
        s3.put_object(Bucket="full", Key="small", Body=b"fits")
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="full", Key="huge", Body=os.urandom(20 * 1024 * 1024))
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        assert exc.value.response["Error"]["Code"] == "InsufficientStorage"
        assert list((mount / "tmp").iterdir()) == []
        assert s3.get_object(Bucket="full", Key="small")["Body"].read() == b"fits"
        with pytest.raises(ClientError):
            s3.head_object(Bucket="full", Key="huge")
        s3.put_object(Bucket="full", Key="after", Body=b"still serving")
        assert d.stop() == 0
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.kill()
        subprocess.run(["umount", str(mount)], check=False)
        d.cleanup()


def test_scrub_quarantines_bitrot_and_reads_fail_cleanly(daemon: Daemon) -> None:
    s3 = s3_client(daemon, s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="scrub")
    good, bad, gone = os.urandom(5000), os.urandom(6000), os.urandom(7000)
    for key, body in (("good", good), ("bad", bad), ("gone", gone)):
        s3.put_object(Bucket="scrub", Key=key, Body=body)

    def path_of(body: bytes) -> Path:
        sha = hashlib.sha256(body).hexdigest()
        return daemon.data_dir / "blobs" / sha[:2] / sha[2:4] / sha

    victim = path_of(bad)
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    path_of(gone).unlink()
    report = daemon.ctl("scrub")
    assert hashlib.sha256(bad).hexdigest() in report["corrupt"]
    assert hashlib.sha256(gone).hexdigest() in report["missing"]
    assert (daemon.data_dir / "quarantine").exists()
    assert any((daemon.data_dir / "quarantine").iterdir())
    for key in ("bad", "gone"):
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="scrub", Key=key)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert exc.value.response["Error"]["Code"] == "InternalError"
    assert s3.get_object(Bucket="scrub", Key="good")["Body"].read() == good
    # Rewriting the object heals it.
    s3.put_object(Bucket="scrub", Key="bad", Body=bad)
    assert s3.get_object(Bucket="scrub", Key="bad")["Body"].read() == bad
