"""The same daemon on the trio backend (`server.runtime: trio`): supervisor, front and blob
workers run on trio; the meta process stays on asyncio (its database drivers need it)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import s3_client
from tests.e2e.daemon import Daemon


@pytest.fixture(scope="module")
def trio_daemon() -> Iterator[Daemon]:
    d = Daemon(config={"server": {"runtime": "trio"}})
    d.start()
    d.create_key()
    yield d
    d.cleanup()


def test_s3_roundtrip_on_trio(trio_daemon: Daemon) -> None:
    s3 = s3_client(trio_daemon, s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="trio")
    for size in (0, 3, 70_000, 3 * 1024 * 1024 + 1):
        body = os.urandom(size)
        etag = s3.put_object(Bucket="trio", Key=f"k{size}", Body=body)["ETag"]
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.get_object(Bucket="trio", Key=f"k{size}")["Body"].read() == body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="trio")["Contents"]]
    assert keys == sorted(keys) and len(keys) == 4
    ranged = s3.get_object(Bucket="trio", Key="k70000", Range="bytes=5-9")
    assert ranged["ContentRange"] == "bytes 5-9/70000"


def test_blob_worker_restart_and_clean_stop_on_trio(trio_daemon: Daemon) -> None:
    s3 = s3_client(trio_daemon, s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="trio-restart")
    old = trio_daemon.child_pid("blob-1")
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        child = next(c for c in trio_daemon.status()["children"] if c["name"] == "blob-1")
        if child["state"] == "running" and child["pid"] != old:
            break
        assert time.monotonic() < deadline, "blob-1 was not restarted"
        time.sleep(0.05)
    for i in range(10):
        s3.put_object(Bucket="trio-restart", Key=f"after{i}", Body=b"x" * i)
    assert trio_daemon.stop() == 0
