"""aws-cli v1 (`s3` and `s3api`) against the real daemon over http and https, checked by hash.

aws-cli runs with its default checksum settings (aws-chunked bodies with CRC trailers) and a 64 MiB
multipart threshold set through `aws configure set`: multipart uploads are not implemented by the
server yet, and every file here stays below 8 MiB anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import (
    SINGLE_PUT_LIMIT,
    AwsCli,
    Endpoint,
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
    yield from serve(request.param, tmp_path_factory.mktemp("awscli-daemon"))


@pytest.fixture(scope="module")
def aws(ep: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    return AwsCli(ep, tmp_path_factory.mktemp("awscli-home"))


@pytest.fixture
def bucket(aws: AwsCli) -> str:
    name = f"cli-{os.urandom(4).hex()}"
    aws("s3", "mb", f"s3://{name}")
    return name


def api(aws: AwsCli, *args: str) -> dict[str, object]:
    out = aws("s3api", *args).stdout
    return dict(json.loads(out)) if out.strip() else {}


def remote_keys(aws: AwsCli, bucket: str, prefix: str = "") -> dict[str, int]:
    listed = api(aws, "list-objects-v2", "--bucket", bucket, "--prefix", prefix)
    contents = listed.get("Contents", [])
    assert isinstance(contents, list)
    return {str(o["Key"]): int(o["Size"]) for o in contents}


def test_cp_up_and_down(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(SINGLE_PUT_LIMIT - 12345))
    key = "some dir/ünï file.bin"
    aws("s3", "cp", str(src), f"s3://{bucket}/{key}")
    down = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/{key}", str(down))
    assert file_sha256(down) == file_sha256(src)
    head = api(aws, "head-object", "--bucket", bucket, "--key", key)
    assert head["ContentLength"] == src.stat().st_size
    # A single PUT's ETag is the content MD5: the CLI stored the bytes, not the aws-chunked framing.
    assert head["ETag"] == f'"{hashlib.md5(src.read_bytes()).hexdigest()}"'


def test_cp_empty_file(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    aws("s3", "cp", str(tmp_path / "empty"), f"s3://{bucket}/empty")
    aws("s3", "cp", f"s3://{bucket}/empty", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b""


def test_sync_both_ways(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    files = sample_files("sync")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    aws("s3", "sync", str(src), f"s3://{bucket}/tree/")
    assert remote_keys(aws, bucket, "tree/") == {f"tree/{k}": len(v) for k, v in files.items()}

    aws("s3", "sync", f"s3://{bucket}/tree/", str(dst))
    assert tree_digests(dst) == tree_digests(src)
    # Sizes and Last-Modified now agree both ways: a second sync must transfer nothing.
    assert aws("s3", "sync", str(dst), f"s3://{bucket}/tree/").stdout.strip() == ""
    assert aws("s3", "sync", f"s3://{bucket}/tree/", str(dst)).stdout.strip() == ""

    (src / "top.txt").unlink()
    (src / "new.txt").write_bytes(b"new file")
    aws("s3", "sync", "--delete", str(src), f"s3://{bucket}/tree/")
    keys = remote_keys(aws, bucket, "tree/")
    assert "tree/top.txt" not in keys
    assert keys["tree/new.txt"] == len(b"new file")
    aws("s3", "sync", "--delete", f"s3://{bucket}/tree/", str(dst))
    assert tree_digests(dst) == tree_digests(src)


def test_ls(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    files = sample_files("ls")
    write_tree(tmp_path, files)
    aws("s3", "sync", str(tmp_path), f"s3://{bucket}/")
    assert bucket in aws("s3", "ls").stdout
    recursive = aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    # Each line: date time size key (the key may contain spaces).
    listed = {}
    for line in recursive.splitlines():
        _date, _time, size, key = line.split(maxsplit=3)
        listed[key] = int(size)
    assert listed == {k: len(v) for k, v in files.items()}
    top = aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE dir/" in top
    assert "top.txt" in top
    assert "mid.bin" not in top  # below the delimiter


def test_rm_recursive(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    write_tree(tmp_path, sample_files("rm"))
    aws("s3", "sync", str(tmp_path), f"s3://{bucket}/")
    aws("s3", "cp", str(tmp_path / "top.txt"), f"s3://{bucket}/keep/top.txt")
    aws("s3", "rm", "--recursive", f"s3://{bucket}/dir")
    assert sorted(remote_keys(aws, bucket)) == ["empty.bin", "keep/top.txt", "top.txt"]
    aws("s3", "rm", "--recursive", f"s3://{bucket}")
    assert remote_keys(aws, bucket) == {}
    aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in aws("s3", "ls").stdout


def test_s3api_object_calls(aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(os.urandom(300_000))
    put = api(aws, "put-object", "--bucket", bucket, "--key", "a/one", "--body", str(body),
              "--content-type", "application/x-test", "--metadata", "Color=blue")  # fmt: skip
    md5 = hashlib.md5(body.read_bytes()).hexdigest()
    assert put["ETag"] == f'"{md5}"'

    out = tmp_path / "out"
    got = api(aws, "get-object", "--bucket", bucket, "--key", "a/one", str(out))
    assert file_sha256(out) == file_sha256(body)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"color": "blue"}

    head = api(aws, "head-object", "--bucket", bucket, "--key", "a/one")
    assert (head["ContentLength"], head["ETag"]) == (300_000, f'"{md5}"')

    copied = api(aws, "copy-object", "--bucket", bucket, "--key", "b/two",
                 "--copy-source", f"{bucket}/a/one")  # fmt: skip
    result = copied["CopyObjectResult"]
    assert isinstance(result, dict)
    assert result["ETag"] == f'"{md5}"'
    api(aws, "get-object", "--bucket", bucket, "--key", "b/two", str(out))
    assert file_sha256(out) == file_sha256(body)

    listed = api(aws, "list-objects-v2", "--bucket", bucket, "--prefix", "b/")
    assert listed["KeyCount"] == 1
    contents = listed["Contents"]
    assert isinstance(contents, list)
    assert [o["Key"] for o in contents] == ["b/two"]

    deleted = api(aws, "delete-objects", "--bucket", bucket, "--delete",
                  json.dumps({"Objects": [{"Key": "a/one"}, {"Key": "b/two"}]}))  # fmt: skip
    assert sorted(str(d["Key"]) for d in deleted["Deleted"]) == ["a/one", "b/two"]  # type: ignore[attr-defined]
    assert remote_keys(aws, bucket) == {}
    missing = aws("s3api", "head-object", "--bucket", bucket, "--key", "a/one", check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr or "Not Found" in missing.stderr
    gone = aws("s3api", "get-object", "--bucket", bucket, "--key", "b/two", str(out), check=False)
    assert gone.returncode != 0
    assert "NoSuchKey" in gone.stderr
