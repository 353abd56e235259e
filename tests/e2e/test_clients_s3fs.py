"""s3fs (fsspec) against the real daemon over http and https.

Written files stay below s3fs's 5 MiB block size, so each is one PutObject (multipart has its
own suite, test_multipart.py).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import s3fs  # type: ignore[import-untyped]

from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def fs(ep: Endpoint) -> Any:
    return s3fs.S3FileSystem(
        key=ep.access_key,
        secret=ep.secret_key,
        use_ssl=ep.https,
        client_kwargs={
            "endpoint_url": ep.url,
            "region_name": "us-east-1",
            "verify": str(ep.ca_file) if ep.ca_file else True,
        },
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
    )


@pytest.fixture
def bucket(ep: Endpoint) -> str:
    name = f"fsspec-{os.urandom(4).hex()}"
    ep.boto3().create_bucket(Bucket=name)
    return name


def test_mkdir_creates_bucket(fs: Any) -> None:
    # s3fs sends `x-amz-acl: ` (empty) with CreateBucket and PutObject; AWS treats it as absent.
    name = f"fsspec-mk-{os.urandom(4).hex()}"
    fs.mkdir(name)
    fs.invalidate_cache()
    assert fs.exists(name)
    assert name in fs.ls("")
    fs.rmdir(name)
    fs.invalidate_cache()
    assert name not in fs.ls("")


def test_write_read(fs: Any, bucket: str) -> None:
    data = os.urandom(1024 * 1024 + 99)
    with fs.open(f"{bucket}/dir/file.bin", "wb") as f:
        f.write(data[:1000])
        f.write(data[1000:])
    fs.invalidate_cache()
    with fs.open(f"{bucket}/dir/file.bin", "rb") as f:
        back = f.read()
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    with fs.open(f"{bucket}/dir/file.bin", "rb", block_size=4096) as f:
        f.seek(500_000)
        assert f.read(10_000) == data[500_000:510_000]


def test_ls_find_info(fs: Any, bucket: str) -> None:
    for key, size in (("a.txt", 3), ("d/b.txt", 5), ("d/e/c.txt", 7)):
        with fs.open(f"{bucket}/{key}", "wb") as f:
            f.write(b"x" * size)
    fs.invalidate_cache()
    assert sorted(fs.ls(bucket)) == [f"{bucket}/a.txt", f"{bucket}/d"]
    assert sorted(fs.ls(f"{bucket}/d")) == [f"{bucket}/d/b.txt", f"{bucket}/d/e"]
    assert sorted(fs.find(bucket)) == [
        f"{bucket}/a.txt",
        f"{bucket}/d/b.txt",
        f"{bucket}/d/e/c.txt",
    ]
    info = fs.info(f"{bucket}/d/e/c.txt")
    assert info["size"] == 7
    assert info["type"] == "file"
    assert info["ETag"] == f'"{hashlib.md5(b"x" * 7).hexdigest()}"'
    assert fs.info(f"{bucket}/d")["type"] == "directory"


def test_rm(fs: Any, bucket: str) -> None:
    for key in ("keep", "gone/1", "gone/2/3"):
        with fs.open(f"{bucket}/{key}", "wb") as f:
            f.write(key.encode())
    fs.rm(f"{bucket}/gone", recursive=True)
    fs.invalidate_cache()
    assert fs.find(bucket) == [f"{bucket}/keep"]
    fs.rm(f"{bucket}/keep")
    fs.invalidate_cache()
    assert fs.find(bucket) == []
    assert not fs.exists(f"{bucket}/keep")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{bucket}/keep")
