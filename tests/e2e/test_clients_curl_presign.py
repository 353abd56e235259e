"""Clients that are not S3 SDKs: `curl --aws-sigv4`, and boto3 presigned URLs fetched by urllib and
plain curl, over http and https. Expired and over-long presigned URLs are refused with AWS's codes.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import botocore.auth  # type: ignore[import-untyped]
import botocore.crt.auth  # type: ignore[import-untyped]
import pytest
from botocore.compat import HAS_CRT  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.e2e.clients import curl, curl_sigv4
from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def s3(ep: Endpoint) -> Any:
    # botocore presigns with SigV2 for us-east-1 unless told otherwise; this server speaks SigV4.
    return ep.boto3(signature_version="s3v4")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"curl-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def fetch(
    ep: Endpoint, url: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, bytes]:
    """urllib, which knows nothing of S3: status and body, errors included."""
    ctx = ssl.create_default_context(cafile=str(ep.ca_file)) if ep.ca_file else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return resp.status, bytes(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def error_code(body: bytes) -> str:
    root = ElementTree.fromstring(body)
    assert root.tag == "Error", body[:300]
    return root.findtext("Code") or ""


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key)
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"


def test_curl_sigv4_put_get_head_delete(ep: Endpoint, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1024 * 1024 + 1))
    url = f"{ep.url}/{bucket}/curl/obj.bin"
    put = curl_sigv4(ep, "-f", "-T", str(src), "-D", "-", "-o", "/dev/null", url).stdout
    assert f'"{hashlib.md5(src.read_bytes()).hexdigest()}"' in put  # ETag header
    out = tmp_path / "out.bin"
    curl_sigv4(ep, "-f", "-o", str(out), url)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    head = curl_sigv4(ep, "-f", "-I", url).stdout.lower()
    assert f"content-length: {src.stat().st_size}" in head
    curl_sigv4(ep, "-f", "-X", "DELETE", url)
    missing = curl_sigv4(ep, "-o", "-", "-w", "\n%{http_code}", url).stdout
    body, status = missing.rsplit("\n", 1)
    assert status == "404"
    assert error_code(body.encode()) == "NoSuchKey"


def test_curl_sigv4_wrong_secret(ep: Endpoint, s3: Any, bucket: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"never stored")
    url = f"{ep.url}/{bucket}/bad"
    result = curl(
        ep,
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--user",
        f"{ep.access_key}:wrong",
        "-T",
        str(tmp_path / "f"),
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        url,
    )
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "403"
    assert error_code(body.encode()) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "bad")


def test_presigned_get_and_put(ep: Endpoint, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    s3.put_object(Bucket=bucket, Key="p/get me", Body=data)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p/get me"}, ExpiresIn=300
    )
    assert fetch(ep, url) == (200, data)
    # Query-string auth carries no x-amz-content-sha256: the payload is UNSIGNED-PAYLOAD.
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p/by urllib"}, ExpiresIn=300
    )
    status, _ = fetch(ep, put_url, "PUT", data[::-1])
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="p/by urllib")["Body"].read() == data[::-1]

    src = tmp_path / "src"
    src.write_bytes(os.urandom(2 * 1024 * 1024))
    curl_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p/by curl"}, ExpiresIn=300
    )
    curl(ep, "-f", "-T", str(src), curl_url)
    got = s3.get_object(Bucket=bucket, Key="p/by curl")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(src.read_bytes()).digest()


def presign_at(
    s3: Any, when: datetime.datetime, method: str, params: dict[str, str], expires: int
) -> str:
    """A presigned URL as if generated at `when` (naive UTC).

    botocore reads the clock through `get_current_datetime`, imported by name into its own
    signer module and, with awscrt installed (as here), into the CRT signer that it prefers."""
    modules = [botocore.auth, *([botocore.crt.auth] if HAS_CRT else [])]
    originals = [m.get_current_datetime for m in modules]

    def fixed(remove_tzinfo: bool = True) -> datetime.datetime:
        return when if remove_tzinfo else when.replace(tzinfo=datetime.UTC)

    for module in modules:
        module.get_current_datetime = fixed
    try:
        url = str(s3.generate_presigned_url(method, Params=params, ExpiresIn=expires))
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.get_current_datetime = original
    assert f"X-Amz-Date={when:%Y%m%dT%H%M%SZ}" in url, url
    return url


def test_presigned_expired(ep: Endpoint, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="old", Body=b"old")
    an_hour_ago = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        hours=1
    )
    url = presign_at(s3, an_hour_ago, "get_object", {"Bucket": bucket, "Key": "old"}, 60)
    assert "X-Amz-Expires=60" in url
    status, body = fetch(ep, url)
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert b"expired" in body.lower()

    put_url = presign_at(s3, an_hour_ago, "put_object", {"Bucket": bucket, "Key": "late"}, 60)
    status, body = fetch(ep, put_url, "PUT", b"too late")
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert_absent(s3, bucket, "late")


def test_presigned_longer_than_a_week(ep: Endpoint, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    week = 7 * 24 * 3600
    ok = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=week
    )
    assert fetch(ep, ok) == (200, b"v")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=week + 1
    )
    status, body = fetch(ep, url)
    assert (status, error_code(body)) == (400, "AuthorizationQueryParametersError")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "long"}, ExpiresIn=week + 1
    )
    status, body = fetch(ep, put_url, "PUT", b"x")
    assert (status, error_code(body)) == (400, "AuthorizationQueryParametersError")
    assert_absent(s3, bucket, "long")
