"""minio-py against the real daemon over http and https; its presigned GET fetched by urllib."""

from __future__ import annotations

import hashlib
import io
import os
import ssl
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint
from tests.e2e.clients_sigv4 import flip_signature


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def mc(ep: Endpoint) -> Minio:
    pool = urllib3.PoolManager(
        ca_certs=str(ep.ca_file) if ep.ca_file else None,
        cert_reqs="CERT_REQUIRED",
        retries=urllib3.Retry(total=0),
        timeout=urllib3.Timeout(connect=30, read=60),
    )
    return Minio(
        ep.netloc,
        ep.access_key,
        ep.secret_key,
        secure=ep.https,
        region="us-east-1",
        http_client=pool,
    )


@pytest.fixture
def bucket(mc: Minio) -> str:
    name = f"minio-{os.urandom(4).hex()}"
    mc.make_bucket(name)
    assert mc.bucket_exists(name)
    return name


def put(mc: Minio, bucket: str, key: str, data: bytes, **kw: object) -> str:
    result = mc.put_object(bucket, key, io.BytesIO(data), len(data), **kw)  # type: ignore[arg-type]
    return str(result.etag)


def get(mc: Minio, bucket: str, key: str) -> bytes:
    resp = mc.get_object(bucket, key)
    try:
        return bytes(resp.read())
    finally:
        resp.close()
        resp.release_conn()


def urlopen(ep: Endpoint, req: urllib.request.Request | str) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ep.ca_file)) if ep.ca_file else None
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        return bytes(resp.read())


def test_put_get_stat(mc: Minio, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    etag = put(
        mc,
        bucket,
        "dir/obj ü",
        data,
        content_type="text/x-minio",
        metadata={"x-amz-meta-owner": "tests"},
    )
    assert etag == hashlib.md5(data).hexdigest()
    assert hashlib.sha256(get(mc, bucket, "dir/obj ü")).digest() == hashlib.sha256(data).digest()
    stat = mc.stat_object(bucket, "dir/obj ü")
    assert (stat.size, stat.etag, stat.content_type) == (len(data), etag, "text/x-minio")
    assert stat.metadata is not None
    assert stat.metadata.get("x-amz-meta-owner") == "tests"
    part = mc.get_object(bucket, "dir/obj ü", offset=10, length=100)
    try:
        assert part.read() == data[10:110]
    finally:
        part.close()
        part.release_conn()


def test_list_objects(mc: Minio, bucket: str) -> None:
    keys = ["a/1", "a/2", "a/b/3", "c", "d/4"]
    for key in keys:
        put(mc, bucket, key, key.encode())
    assert [o.object_name for o in mc.list_objects(bucket, recursive=True)] == keys
    # minio-py yields a page's objects before its common prefixes, hence sorted().
    top = sorted((o.object_name, o.is_dir) for o in mc.list_objects(bucket))
    assert top == [("a/", True), ("c", False), ("d/", True)]
    under = [o.object_name for o in mc.list_objects(bucket, prefix="a/", recursive=True)]
    assert under == ["a/1", "a/2", "a/b/3"]
    sizes = {o.object_name: o.size for o in mc.list_objects(bucket, prefix="a/")}
    assert sizes == {"a/1": 3, "a/2": 3, "a/b/": None}


def test_copy_and_remove_objects(mc: Minio, bucket: str) -> None:
    data = os.urandom(70_000)
    put(mc, bucket, "src", data)
    copied = mc.copy_object(bucket, "dst", CopySource(bucket, "src"))
    assert copied.etag == hashlib.md5(data).hexdigest()
    assert get(mc, bucket, "dst") == data
    errors = list(
        mc.remove_objects(
            bucket, [DeleteObject("src"), DeleteObject("dst"), DeleteObject("never-existed")]
        )
    )
    assert errors == []
    assert list(mc.list_objects(bucket, recursive=True)) == []
    with pytest.raises(S3Error) as exc:
        mc.stat_object(bucket, "dst")
    # HEAD errors have no body; minio-py names a 404 on an object NoSuchKey itself.
    assert exc.value.code == "NoSuchKey"
    mc.remove_bucket(bucket)
    assert not mc.bucket_exists(bucket)


def test_presigned_get_with_urllib(ep: Endpoint, mc: Minio, bucket: str) -> None:
    data = os.urandom(12345)
    put(mc, bucket, "shared/file name+1.bin", data)
    url = mc.presigned_get_object(bucket, "shared/file name+1.bin", expires=timedelta(minutes=5))
    assert "X-Amz-Signature=" in url
    assert urlopen(ep, url) == data
    with pytest.raises(urllib.error.HTTPError) as exc:
        urlopen(ep, flip_signature(url))
    assert exc.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in exc.value.read()
