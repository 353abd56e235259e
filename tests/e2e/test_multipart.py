"""Multipart uploads against the real daemon: boto3 calls, aws-cli and rclone on large files."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.daemon import BIN, Daemon

MiB = 1024 * 1024


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.fixture(scope="module")
def bucket(s3: Any) -> str:
    name = f"mp-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def test_boto3_multipart_rules(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="video/mp4")
    uid = up["UploadId"]
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    etags = []
    for number, data in enumerate(parts, 1):
        etags.append(
            s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=number, Body=data)[
                "ETag"
            ]
        )
    # Re-uploading a part number replaces it.
    parts[1] = os.urandom(5 * MiB)
    etags[1] = s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=2, Body=parts[1])[
        "ETag"
    ]
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2] and listed["IsTruncated"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert uid in [u["UploadId"] for u in uploads]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big",
            UploadId=uid,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1, "ETag": etags[0]}]
            },
        )
    assert code(exc.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="big",
            UploadId=uid,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]
            },
        )
    assert code(exc.value) == "InvalidPart"
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert got["ContentType"] == "video/mp4"
    # A range across the part boundary, and partNumber reads.
    whole = b"".join(parts)
    r = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert r["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]
    p2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert p2["Body"].read() == parts[1] and p2["PartsCount"] == 3
    # Completing twice answers the same, as AWS does.
    again = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert again["ETag"] == done["ETag"]


def test_entity_too_small_and_abort(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"a" * 100)
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"b" * 100)
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="small",
            UploadId=uid,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": e1["ETag"]},
                    {"PartNumber": 2, "ETag": e2["ETag"]},
                ]
            },
        )
    assert code(exc.value) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=uid)
    assert code(exc.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="small", UploadId="nope", PartNumber=1, Body=b"x")
    assert code(exc.value) == "NoSuchUpload"


def test_upload_part_copy_and_conditional_complete(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    p1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
    )["CopyPartResult"]["ETag"]
    s3.put_object(Bucket=bucket, Key="copied", Body=b"exists")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="copied",
            UploadId=uid,
            IfNoneMatch="*",
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]
            },
        )
    assert code(exc.value) == "PreconditionFailed"
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="copied",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]},
    )
    body = s3.get_object(Bucket=bucket, Key="copied")["Body"].read()
    assert body == source[: 5 * MiB] + source


def test_awscli_cp_200mib_goes_multipart(daemon: Daemon, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    parts = []
    with open(path, "wb") as f:
        for _ in range(25):  # aws-cli's default part size is 8 MiB: 25 parts
            chunk = os.urandom(8 * MiB)
            parts.append(chunk)
            f.write(chunk)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": daemon.access_key,
        "AWS_SECRET_ACCESS_KEY": daemon.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    aws = [str(BIN / "aws"), "--endpoint-url", daemon.endpoint]
    subprocess.run(
        [*aws, "s3", "cp", str(path), f"s3://{bucket}/cli/big.bin"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    head = subprocess.run(
        [*aws, "s3api", "head-object", "--bucket", bucket, "--key", "cli/big.bin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert multipart_etag(parts).strip('"') in head.stdout
    out = tmp_path / "back.bin"
    subprocess.run(
        [*aws, "s3", "cp", f"s3://{bucket}/cli/big.bin", str(out)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()


def test_rclone_large_file_copy_and_check(daemon: Daemon, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "large.bin").write_bytes(os.urandom(40 * MiB))
    # rclone's S3 SDK fails to start when AWS_CA_BUNDLE is set but unreadable to it.
    base = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env = {
        **base,
        "RCLONE_CONFIG_AX_TYPE": "s3",
        "RCLONE_CONFIG_AX_PROVIDER": "Other",
        "RCLONE_CONFIG_AX_ACCESS_KEY_ID": daemon.access_key,
        "RCLONE_CONFIG_AX_SECRET_ACCESS_KEY": daemon.secret_key,
        "RCLONE_CONFIG_AX_ENDPOINT": daemon.endpoint,
        "RCLONE_CONFIG_AX_REGION": "us-east-1",
    }
    flags = ["--s3-upload-cutoff", "10M", "--s3-chunk-size", "8M", "--config", "/dev/null"]
    subprocess.run(
        ["rclone", "copy", str(src), f"ax:{bucket}/rc", *flags],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    check = subprocess.run(
        ["rclone", "check", str(src), f"ax:{bucket}/rc", *flags],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert check.returncode == 0, check.stderr
