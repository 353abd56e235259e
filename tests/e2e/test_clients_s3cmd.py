"""s3cmd against the real daemon over http and https (SigV4, path style, no multipart)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import (
    Endpoint,
    S3cmd,
    file_sha256,
    sample_files,
    serve,
    tree_digests,
    write_tree,
)


@pytest.fixture(scope="module", params=["http", "https"])
def ep(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    yield from serve(request.param, tmp_path_factory.mktemp("s3cmd-daemon"))


@pytest.fixture(scope="module")
def s3cmd(ep: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> S3cmd:
    return S3cmd(ep, tmp_path_factory.mktemp("s3cmd-home"))


@pytest.fixture
def bucket(s3cmd: S3cmd) -> str:
    name = f"s3cmd-{os.urandom(4).hex()}"
    s3cmd("mb", f"s3://{name}")
    return name


def listed_keys(s3cmd: S3cmd, url: str) -> dict[str, int]:
    """`s3cmd ls --recursive` lines: date time size url."""
    keys = {}
    for line in s3cmd("ls", "--recursive", url).stdout.splitlines():
        _date, _time, size, key_url = line.split(maxsplit=3)
        keys[key_url] = int(size)
    return keys


def test_put_get(s3cmd: S3cmd, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024 + 3))
    s3cmd("put", str(src), f"s3://{bucket}/x/src.bin")
    out = tmp_path / "out.bin"
    # s3cmd compares the downloaded bytes' MD5 with the ETag and fails on a mismatch.
    s3cmd("get", f"s3://{bucket}/x/src.bin", str(out))
    assert file_sha256(out) == file_sha256(src)
    info = s3cmd("info", f"s3://{bucket}/x/src.bin").stdout
    assert str(src.stat().st_size) in info


def test_ls_buckets_and_objects(s3cmd: S3cmd, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    s3cmd("put", str(tmp_path / "f"), f"s3://{bucket}/d/f")
    s3cmd("put", str(tmp_path / "f"), f"s3://{bucket}/g")
    assert f"s3://{bucket}" in s3cmd("ls").stdout
    top = [line.split() for line in s3cmd("ls", f"s3://{bucket}/").stdout.splitlines()]
    assert ["DIR", f"s3://{bucket}/d/"] in top
    assert [f"s3://{bucket}/g"] == [row[-1] for row in top if row[0] != "DIR"]
    assert listed_keys(s3cmd, f"s3://{bucket}") == {f"s3://{bucket}/d/f": 5, f"s3://{bucket}/g": 5}


def test_sync_up_and_down(s3cmd: S3cmd, bucket: str, tmp_path: Path) -> None:
    files = sample_files("s3cmd")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    s3cmd("sync", f"{src}/", f"s3://{bucket}/t/")
    assert listed_keys(s3cmd, f"s3://{bucket}/t/") == {
        f"s3://{bucket}/t/{k}": len(v) for k, v in files.items()
    }
    dst.mkdir()
    s3cmd("sync", f"s3://{bucket}/t/", f"{dst}/")
    assert tree_digests(dst) == tree_digests(src)
    # s3cmd sync compares size and MD5 (ETag): an unchanged tree uploads nothing.
    again = s3cmd("sync", f"{src}/", f"s3://{bucket}/t/").stdout
    assert "upload:" not in again

    (src / "top.txt").write_bytes(b"changed")
    s3cmd("sync", "--delete-removed", f"{src}/", f"s3://{bucket}/t/")
    s3cmd("sync", "--delete-removed", f"s3://{bucket}/t/", f"{dst}/")
    assert tree_digests(dst) == tree_digests(src)


def test_del_and_rb(s3cmd: S3cmd, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    s3cmd("put", str(tmp_path / "f"), f"s3://{bucket}/a")
    s3cmd("put", str(tmp_path / "f"), f"s3://{bucket}/b/c")
    refused = s3cmd("rb", f"s3://{bucket}", check=False)
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr
    s3cmd("del", f"s3://{bucket}/a")
    assert listed_keys(s3cmd, f"s3://{bucket}") == {f"s3://{bucket}/b/c": 4}
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}/b/")
    assert listed_keys(s3cmd, f"s3://{bucket}") == {}
    s3cmd("rb", f"s3://{bucket}")
    assert f"s3://{bucket}" not in s3cmd("ls").stdout
    missing = s3cmd("get", f"s3://{bucket}/a", str(tmp_path / "nope"), check=False)
    assert missing.returncode != 0
