"""aws-cli v1 (`s3` and `s3api`) against the real daemon over http and https, checked by hash.

aws-cli runs with its default checksum settings (aws-chunked bodies with CRC trailers) and a 64 MiB
multipart threshold set through `aws configure set`, so every upload here (all below 8 MiB) is one
PutObject; multipart has its own suite (test_multipart.py). Each CLI run costs seconds, so the
server-side state is checked with boto3 and the CLI only does the operations under test.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clients import (
    SINGLE_PUT_LIMIT,
    AwsCli,
    file_sha256,
    sample_files,
    tree_digests,
    write_tree,
)
from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def aws(ep: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> AwsCli:
    return AwsCli(ep, tmp_path_factory.mktemp("awscli-home"))


@pytest.fixture(scope="module")
def s3(ep: Endpoint) -> Any:
    return ep.boto3()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"cli-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def api(aws: AwsCli, *args: str) -> dict[str, Any]:
    out = aws("s3api", *args).stdout
    return dict(json.loads(out)) if out.strip() else {}


def remote(s3: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["Size"] for o in listed.get("Contents", [])}


def test_mb_cp_up_and_down(aws: AwsCli, s3: Any, tmp_path: Path) -> None:
    bucket = f"cp-{os.urandom(4).hex()}"
    aws("s3", "mb", f"s3://{bucket}")
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = {
        "big.bin": os.urandom(SINGLE_PUT_LIMIT - 12345),
        "empty": b"",
        "some dir/ünï file.txt": b"unicode name",
    }
    write_tree(src, files)
    aws("s3", "cp", "--recursive", str(src), f"s3://{bucket}/cp/")
    assert remote(s3, bucket) == {f"cp/{k}": len(v) for k, v in files.items()}
    # A single PUT's ETag is the content MD5: the CLI's aws-chunked framing was not stored.
    head = s3.head_object(Bucket=bucket, Key="cp/big.bin")
    assert head["ETag"] == f'"{hashlib.md5(files["big.bin"]).hexdigest()}"'
    aws("s3", "cp", f"s3://{bucket}/cp/big.bin", str(tmp_path / "one.bin"))
    assert file_sha256(tmp_path / "one.bin") == file_sha256(src / "big.bin")
    aws("s3", "cp", "--recursive", f"s3://{bucket}/cp/", str(dst))
    assert tree_digests(dst) == tree_digests(src)


def test_sync_both_ways(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    files = sample_files("sync")
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    aws("s3", "sync", str(src), f"s3://{bucket}/tree/")
    assert remote(s3, bucket, "tree/") == {f"tree/{k}": len(v) for k, v in files.items()}
    aws("s3", "sync", f"s3://{bucket}/tree/", str(dst))
    assert tree_digests(dst) == tree_digests(src)
    # Sizes agree and the download took the objects' Last-Modified: nothing left to transfer.
    assert aws("s3", "sync", str(dst), f"s3://{bucket}/tree/").stdout.strip() == ""

    (src / "top.txt").unlink()
    (src / "new.txt").write_bytes(b"new file")
    aws("s3", "sync", "--delete", str(src), f"s3://{bucket}/tree/")
    keys = remote(s3, bucket, "tree/")
    assert "tree/top.txt" not in keys
    assert keys["tree/new.txt"] == len(b"new file")
    aws("s3", "sync", "--delete", f"s3://{bucket}/tree/", str(dst))
    assert tree_digests(dst) == tree_digests(src)


def test_ls(aws: AwsCli, s3: Any, bucket: str) -> None:
    files = sample_files("ls")
    for key, data in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert bucket in aws("s3", "ls").stdout.split()
    listed = {}
    for line in aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout.splitlines():
        _date, _time, size, key = line.split(maxsplit=3)  # the key may contain spaces
        listed[key] = int(size)
    assert listed == {k: len(v) for k, v in files.items()}
    top = [line.split() for line in aws("s3", "ls", f"s3://{bucket}/").stdout.splitlines()]
    assert ["PRE", "dir/"] in top
    assert sorted(row[-1] for row in top if row[0] != "PRE") == ["empty.bin", "top.txt"]


def test_rm_recursive_and_rb(aws: AwsCli, s3: Any, bucket: str) -> None:
    for key in (*sample_files("rm"), "keep/top.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    aws("s3", "rm", "--recursive", f"s3://{bucket}/dir")
    assert sorted(remote(s3, bucket)) == ["empty.bin", "keep/top.txt", "top.txt"]
    aws("s3", "rm", "--recursive", f"s3://{bucket}")
    assert remote(s3, bucket) == {}
    aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_s3api_object_calls(aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "body"
    body.write_bytes(os.urandom(300_000))
    md5 = hashlib.md5(body.read_bytes()).hexdigest()
    put = api(aws, "put-object", "--bucket", bucket, "--key", "a/one", "--body", str(body),
              "--content-type", "application/x-test", "--metadata", "Color=blue")  # fmt: skip
    assert put["ETag"] == f'"{md5}"'

    out = tmp_path / "out"
    got = api(aws, "get-object", "--bucket", bucket, "--key", "a/one", str(out))
    assert file_sha256(out) == file_sha256(body)
    assert (got["ContentType"], got["Metadata"]) == ("application/x-test", {"color": "blue"})
    head = api(aws, "head-object", "--bucket", bucket, "--key", "a/one")
    assert (head["ContentLength"], head["ETag"]) == (300_000, f'"{md5}"')

    copied = api(aws, "copy-object", "--bucket", bucket, "--key", "b/two",
                 "--copy-source", f"{bucket}/a/one")  # fmt: skip
    assert copied["CopyObjectResult"]["ETag"] == f'"{md5}"'
    assert s3.get_object(Bucket=bucket, Key="b/two")["Body"].read() == body.read_bytes()

    # --no-paginate: the CLI's paginator would drop the response's KeyCount.
    listed = api(aws, "list-objects-v2", "--no-paginate", "--bucket", bucket, "--prefix", "b/")
    assert listed["KeyCount"] == 1
    assert [o["Key"] for o in listed["Contents"]] == ["b/two"]

    batch = json.dumps({"Objects": [{"Key": "a/one"}, {"Key": "b/two"}]})
    deleted = api(aws, "delete-objects", "--bucket", bucket, "--delete", batch)
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["a/one", "b/two"]
    assert remote(s3, bucket) == {}
    gone = aws("s3api", "get-object", "--bucket", bucket, "--key", "b/two", str(out), check=False)
    assert gone.returncode != 0
    assert "NoSuchKey" in gone.stderr
