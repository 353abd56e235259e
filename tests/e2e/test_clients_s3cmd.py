"""s3cmd against the real daemon over http and https (SigV4, path style, `--disable-multipart`).

Server-side state is checked with boto3; s3cmd only runs the operations under test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clients import S3cmd, file_sha256, sample_files, tree_digests, write_tree
from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def s3cmd(ep: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> S3cmd:
    return S3cmd(ep, tmp_path_factory.mktemp("s3cmd-home"))


@pytest.fixture(scope="module")
def s3(ep: Endpoint) -> Any:
    return ep.boto3()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"s3cmd-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def remote(s3: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["Size"] for o in listed.get("Contents", [])}


def test_mb_put_get_ls(s3cmd: S3cmd, s3: Any, tmp_path: Path) -> None:
    bucket = f"s3cmd-mb-{os.urandom(4).hex()}"
    s3cmd("mb", f"s3://{bucket}")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    s3cmd("put", str(src), f"s3://{bucket}/d/src.bin")
    s3.put_object(Bucket=bucket, Key="top", Body=b"12345")
    assert remote(s3, bucket) == {"d/src.bin": src.stat().st_size, "top": 5}
    out = tmp_path / "out.bin"
    # s3cmd compares the downloaded bytes' MD5 with the ETag and fails on a mismatch.
    s3cmd("get", f"s3://{bucket}/d/src.bin", str(out))
    assert file_sha256(out) == file_sha256(src)

    assert f"s3://{bucket}" in s3cmd("ls").stdout.split()
    top = [line.split() for line in s3cmd("ls", f"s3://{bucket}/").stdout.splitlines()]
    assert ["DIR", f"s3://{bucket}/d/"] in top
    assert [row[-1] for row in top if row[0] != "DIR"] == [f"s3://{bucket}/top"]
    recursive = {}
    for line in s3cmd("ls", "--recursive", f"s3://{bucket}").stdout.splitlines():
        _date, _time, size, url = line.split(maxsplit=3)
        recursive[url] = int(size)
    assert recursive == {f"s3://{bucket}/d/src.bin": src.stat().st_size, f"s3://{bucket}/top": 5}


def test_sync_up_and_down(s3cmd: S3cmd, s3: Any, bucket: str, tmp_path: Path) -> None:
    files = sample_files("s3cmd")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    s3cmd("sync", f"{src}/", f"s3://{bucket}/t/")
    assert remote(s3, bucket, "t/") == {f"t/{k}": len(v) for k, v in files.items()}
    dst.mkdir()
    s3cmd("sync", f"s3://{bucket}/t/", f"{dst}/")
    assert tree_digests(dst) == tree_digests(src)

    # s3cmd compares sizes and MD5s with the listing's ETags: only the changed file goes up.
    (src / "top.txt").write_bytes(b"changed")
    (src / "empty.bin").unlink()
    again = s3cmd("sync", "--delete-removed", f"{src}/", f"s3://{bucket}/t/").stdout
    uploads = [line for line in again.splitlines() if line.startswith("upload:")]
    assert len(uploads) == 1
    assert "top.txt" in uploads[0]
    assert "t/empty.bin" not in remote(s3, bucket, "t/")
    s3cmd("sync", "--delete-removed", f"s3://{bucket}/t/", f"{dst}/")
    assert tree_digests(dst) == tree_digests(src)


def test_del_and_rb(s3cmd: S3cmd, s3: Any, bucket: str, tmp_path: Path) -> None:
    for key in ("a", "b/c", "b/d"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")
    refused = s3cmd("rb", f"s3://{bucket}", check=False)
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr
    s3cmd("del", f"s3://{bucket}/a")
    assert remote(s3, bucket) == {"b/c": 4, "b/d": 4}
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}/b/")
    assert remote(s3, bucket) == {}
    s3cmd("rb", f"s3://{bucket}")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
