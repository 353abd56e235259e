"""boto3 against the real daemon: buckets, objects, listings, errors, with default settings
(which send CRC32 checksums in aws-chunked trailers) and with checksums "when_required"."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import s3_client
from tests.e2e.daemon import Daemon


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.fixture(params=["when_supported", "when_required"])
def client(daemon: Daemon, request: pytest.FixtureRequest) -> Any:
    return s3_client(
        daemon,
        s3={"addressing_style": "path"},
        request_checksum_calculation=request.param,
        response_checksum_validation=request.param,
    )


def test_bucket_lifecycle(client: Any) -> None:
    name = f"life-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.head_bucket(Bucket=name)
    assert client.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    # us-east-1 keeps AWS's legacy answer: re-creating your own bucket is 200 OK.
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        client.delete_bucket(Bucket=name)
    assert error_code(exc.value) == "BucketNotEmpty"
    client.delete_object(Bucket=name, Key="k")
    client.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        client.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("size", [0, 1, 4096, 1024 * 1024 + 7, 9 * 1024 * 1024])
def test_put_get_roundtrip(client: Any, size: int) -> None:
    bucket = f"rt-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    body = os.urandom(size)
    put = client.put_object(
        Bucket=bucket, Key="obj", Body=body, ContentType="text/plain", Metadata={"Color": "blue"}
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = client.get_object(Bucket=bucket, Key="obj")
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(body).digest()
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ContentLength"] == size
    head = client.head_object(Bucket=bucket, Key="obj")
    assert head["ETag"] == put["ETag"]
    assert head["ContentLength"] == size


def test_keys_roundtrip(client: Any) -> None:
    bucket = f"keys-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    keys = [
        "../etc/passwd",
        "a//b",
        "100%",
        "a+b c",
        "ünïcødé/ключ/鍵",
        "/leading",
        "x" * 1024,
        "sp ace/",
        "?query#frag",
        "tab\tkey",
    ]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode())
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="y" * 1025, Body=b"")
    assert error_code(exc.value) == "KeyTooLongError"


def test_ranges_and_conditionals(client: Any) -> None:
    bucket = f"rng-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * 40
    etag = client.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    assert (
        client.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")["Body"].read() == body[10:20]
    )
    assert client.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    part = client.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")
    assert part["Body"].read() == body[10000:]
    assert part["ContentRange"] == f"bytes 10000-{len(body) - 1}/{len(body)}"
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error_code(exc.value) == "InvalidRange"
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert error_code(exc.value) == "PreconditionFailed"
    got = client.get_object(
        Bucket=bucket, Key="r", ResponseContentType="image/png", ResponseCacheControl="no-cache"
    )
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "no-cache"


def test_conditional_writes(client: Any) -> None:
    bucket = f"cw-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    first = client.put_object(Bucket=bucket, Key="lock", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="lock", Body=b"2", IfNoneMatch="*")
    assert error_code(exc.value) == "PreconditionFailed"
    client.put_object(Bucket=bucket, Key="lock", Body=b"3", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key="lock", Body=b"4", IfMatch=first["ETag"])
    assert error_code(exc.value) == "PreconditionFailed"
    assert client.get_object(Bucket=bucket, Key="lock")["Body"].read() == b"3"


def test_listing_v1_v2_delimiter_paging(client: Any) -> None:
    bucket = f"ls-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    keys = [f"dir{d}/file{f:03d}" for d in range(3) for f in range(5)] + ["top1", "top2"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"")
    page = client.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir0/", "dir1/", "dir2/"]
    assert [o["Key"] for o in page["Contents"]] == ["top1", "top2"]
    assert page["KeyCount"] == 5
    seen: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4}
    ):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys)
    seen = []
    for page in client.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}
    ):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys)
    after = client.list_objects_v2(Bucket=bucket, StartAfter="dir2/file004", Prefix="")
    assert [o["Key"] for o in after["Contents"]] == ["top1", "top2"]
    enc = client.list_objects_v2(Bucket=bucket, Prefix="dir1/", MaxKeys=2, EncodingType="url")
    assert enc["IsTruncated"] is True and len(enc["Contents"]) == 2


def test_copy_and_delete_objects(client: Any) -> None:
    bucket = f"cp-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    body = os.urandom(10000)
    client.put_object(Bucket=bucket, Key="src key+%", Body=body, Metadata={"a": "1"})
    client.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src key+%"})
    got = client.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body and got["Metadata"] == {"a": "1"}
    client.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src key+%",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
    )
    assert client.head_object(Bucket=bucket, Key="dst2")["Metadata"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        client.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"})
    assert error_code(exc.value) == "InvalidRequest"
    result = client.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "dst"}, {"Key": "dst2"}, {"Key": "missing"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["dst", "dst2", "missing"]
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bucket, Key="dst")
    assert error_code(exc.value) == "NoSuchKey"


def test_errors(client: Any, daemon: Daemon) -> None:
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket="no-such-bucket-here", Key="k")
    assert error_code(exc.value) == "NoSuchBucket"
    assert exc.value.response["ResponseMetadata"]["RequestId"]
    with pytest.raises(ClientError) as exc:
        client.create_bucket(Bucket="Bad_Name")
    assert error_code(exc.value) == "InvalidBucketName"
    bad = s3_client(daemon, s3={"addressing_style": "path"})
    bad._request_signer._credentials.secret_key = "wrong" * 8
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert error_code(exc.value) == "SignatureDoesNotMatch"


def test_checksum_mode_returns_stored_checksum(client: Any) -> None:
    bucket = f"ck-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="c", Body=b"hello", ChecksumAlgorithm="SHA256")
    head = client.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="


def test_default_presigned_urls_work_unchanged(daemon: Daemon) -> None:
    """boto3's generate_presigned_url with no signature config (SigV2 for this endpoint)."""
    import urllib.request

    import boto3

    plain = boto3.client(
        "s3",
        endpoint_url=daemon.endpoint,
        aws_access_key_id=daemon.access_key,
        aws_secret_access_key=daemon.secret_key,
        region_name="us-east-1",
    )
    bucket = f"pre-{os.urandom(4).hex()}"
    plain.create_bucket(Bucket=bucket)
    plain.put_object(Bucket=bucket, Key="a b+c", Body=b"presigned body")
    url = plain.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a b+c"})
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.read() == b"presigned body"
    put_url = plain.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"})
    # An explicit empty Content-Type: urllib would add a form type the URL did not sign.
    req = urllib.request.Request(
        put_url, data=b"uploaded", method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    assert plain.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"
