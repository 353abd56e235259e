"""Several nodes sharing PostgreSQL, Redis and one blob directory (the deployment guide's
distributed architecture), each a full alexanderd on its own loopback port.

Outages go through TcpProxy: the daemons see resets and refused connects, as when the
server dies, while the machine's shared PostgreSQL and Redis keep running for other tests.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import s3_client
from tests.e2e.daemon import Daemon
from tests.e2e.tcpproxy import TcpProxy

MiB = 1024 * 1024


class Cluster:
    def __init__(self, nodes: int, pg: TcpProxy, redis_proxy: TcpProxy, db: str, shared: Path):
        self.pg, self.redis = pg, redis_proxy
        config = {
            "database": {"driver": "postgres", "host": "127.0.0.1", "port": pg.port, "name": db,
                         "user": "postgres", "sslmode": "disable", "pool_size": 4},
            "redis": {"enabled": True, "host": "127.0.0.1", "port": redis_proxy.port, "db": 7},
            "storage": {"filesystem": {"base_path": str(shared)}},
            # One database, one master key: access-key secrets are encrypted with it.
            "auth": {"master_key": os.urandom(32).hex()},
        }  # fmt: skip
        self.nodes = [Daemon(config=config) for _ in range(nodes)]

    def start(self) -> None:
        self.nodes[0].start()
        for node in self.nodes[1:]:
            node.start()
        # Users and keys live in the shared database: one key works on every node.
        ak, sk = self.nodes[0].create_key()
        for node in self.nodes:
            node.access_key, node.secret_key = ak, sk

    def s3(self, i: int, **config: Any) -> Any:
        return s3_client(self.nodes[i], s3={"addressing_style": "path"}, **config)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


def _create_database() -> str:
    import asyncio

    import asyncpg

    name = f"axd_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return name


def _drop_database(name: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture()
def cluster(
    postgres_server: tuple[str, int], redis_server: tuple[str, int], request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=7).flushdb()
    db = _create_database()
    pg, rd = TcpProxy("127.0.0.1", 5432), TcpProxy("127.0.0.1", 6379)
    shared = Path(f"/tmp/axd-shared-{uuid.uuid4().hex[:8]}")
    c = Cluster(getattr(request, "param", 2), pg, rd, db, shared)
    try:
        c.start()
        yield c
    finally:
        c.cleanup()
        pg.close()
        rd.close()
        _drop_database(db)
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


def test_read_and_list_after_write_across_nodes(cluster: Cluster) -> None:
    a, b = cluster.s3(0), cluster.s3(1)
    a.create_bucket(Bucket="shared")
    for i in range(30):
        body = os.urandom(100 + i)
        a.put_object(Bucket="shared", Key=f"k{i:02d}", Body=body)
        assert b.get_object(Bucket="shared", Key=f"k{i:02d}")["Body"].read() == body
        keys = [o["Key"] for o in b.list_objects_v2(Bucket="shared")["Contents"]]
        assert f"k{i:02d}" in keys
        b.put_object(Bucket="shared", Key=f"k{i:02d}", Body=b"overwritten")
        assert a.get_object(Bucket="shared", Key=f"k{i:02d}")["Body"].read() == b"overwritten"
    b.delete_object(Bucket="shared", Key="k00")
    with pytest.raises(ClientError) as exc:
        a.head_object(Bucket="shared", Key="k00")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("cluster", [3], indirect=True)
def test_conditional_put_is_atomic_across_nodes(cluster: Cluster) -> None:
    clients = [cluster.s3(i, retries={"max_attempts": 1}) for i in range(3)]
    clients[0].create_bucket(Bucket="locks")
    results: list[str] = []
    barrier = threading.Barrier(12)

    def contend(i: int) -> None:
        s3 = clients[i % 3]
        barrier.wait()
        try:
            s3.put_object(Bucket="locks", Key="terraform.tflock", Body=f"{i}".encode(),
                          IfNoneMatch="*")  # fmt: skip
            results.append("won")
        except ClientError as exc:
            results.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count("won") == 1, results
    assert set(results) <= {"won", "PreconditionFailed", "ConditionalRequestConflict"}


def test_concurrent_multipart_completes_across_nodes(cluster: Cluster) -> None:
    a, b = cluster.s3(0, retries={"max_attempts": 1}), cluster.s3(1, retries={"max_attempts": 1})
    a.create_bucket(Bucket="mpx")
    uploads = []
    for s3 in (a, b, a, b):
        uid = s3.create_multipart_upload(Bucket="mpx", Key="same")["UploadId"]
        etag = s3.upload_part(Bucket="mpx", Key="same", UploadId=uid, PartNumber=1,
                              Body=os.urandom(1000))["ETag"]  # fmt: skip
        uploads.append((s3, uid, etag))
    results: list[str] = []
    barrier = threading.Barrier(len(uploads))

    def complete(s3: Any, uid: str, etag: str) -> None:
        barrier.wait()
        try:
            s3.complete_multipart_upload(Bucket="mpx", Key="same", UploadId=uid, IfNoneMatch="*",
                                         MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                     "ETag": etag}]})  # fmt: skip
            results.append("won")
        except ClientError as exc:
            results.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=complete, args=u) for u in uploads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results.count("won") == 1, results


def test_gc_runs_on_one_node_at_a_time(cluster: Cluster) -> None:
    a = cluster.s3(0)
    a.create_bucket(Bucket="gcx")
    for i in range(40):
        a.put_object(Bucket="gcx", Key=f"o{i}", Body=os.urandom(2000))
        a.delete_object(Bucket="gcx", Key=f"o{i}")
    outcomes: list[tuple[str, Any]] = []
    barrier = threading.Barrier(2)

    def run(node: Daemon) -> None:
        barrier.wait()
        result = node.ctl_raw("gc", "run", "--grace-period", "0")
        outcomes.append((result.stdout, result.stderr))

    threads = [threading.Thread(target=run, args=(n,)) for n in cluster.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    import json

    freed = [json.loads(out)["deleted"] for out, _ in outcomes if out.strip()]
    refused = [err for out, err in outcomes if not out.strip()]
    # Either one pass ran while the other was refused, or they ran one after the other:
    # never both deleting the same blobs (the total equals the 40 orphans exactly).
    assert sum(freed) == 40, outcomes
    assert all("already running" in e or "busy" in e.lower() for e in refused), outcomes


def _load(s3: Any, stop: threading.Event, ok: list[int], errors: list[int]) -> None:
    n = 0
    while not stop.is_set() and n < 5000:
        n += 1
        try:
            s3.put_object(Bucket="outage", Key=f"k{n % 20}", Body=b"x" * 100)
            s3.get_object(Bucket="outage", Key=f"k{n % 20}")["Body"].read()
            ok.append(n)
        except ClientError as exc:
            errors.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        except Exception:
            errors.append(0)


def test_redis_outage_degrades_without_errors(cluster: Cluster) -> None:
    s3 = cluster.s3(0, retries={"max_attempts": 1})
    s3.create_bucket(Bucket="outage")
    stop, ok, errors = threading.Event(), [], []
    t = threading.Thread(target=_load, args=(s3, stop, ok, errors))
    t.start()
    try:
        time.sleep(1)
        cluster.redis.pause()
        before = len(ok)
        deadline = time.monotonic() + 30
        while len(ok) < before + 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(ok) >= before + 30, "requests stopped succeeding while Redis was down"
        readyz = cluster.nodes[0].ctl("status")
        assert readyz["children"]
        cluster.redis.resume()
        before = len(ok)
        while len(ok) < before + 30 and time.monotonic() < deadline + 30:
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(60)
    assert errors == [], errors


def test_postgres_outage_gives_503_then_recovers(cluster: Cluster) -> None:
    s3 = cluster.s3(0, retries={"max_attempts": 1})
    s3.create_bucket(Bucket="outage")
    acked: dict[str, bytes] = {}
    for i in range(10):
        body = os.urandom(64)
        s3.put_object(Bucket="outage", Key=f"before{i}", Body=body)
        acked[f"before{i}"] = body
    cluster.pg.pause()
    statuses = []
    for i in range(5):
        try:
            body = os.urandom(64)
            s3.put_object(Bucket="outage", Key=f"during{i}", Body=body)
            acked[f"during{i}"] = body  # acknowledged: it must survive
        except ClientError as exc:
            statuses.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert statuses and set(statuses) == {503}, statuses
    cluster.pg.resume()
    deadline = time.monotonic() + 60
    while True:
        try:
            s3.put_object(Bucket="outage", Key="after", Body=b"back")
            break
        except ClientError:
            assert time.monotonic() < deadline, "no recovery after PostgreSQL returned"
            time.sleep(0.2)
    for key, body in acked.items():
        assert s3.get_object(Bucket="outage", Key=key)["Body"].read() == body
