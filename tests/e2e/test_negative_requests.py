"""Correctly signed but invalid requests: AWS's error code, a request id in header and body, no
body on HEAD errors, and nothing stored, created or deleted as a side effect.

Raw http.client with our own signer, so no client library validates or repairs anything first.
"""

from __future__ import annotations

import base64
import hashlib
import os
from xml.etree import ElementTree

import pytest

from tests.e2e.clients_endpoint import Endpoint, shared_endpoint
from tests.e2e.clients_sigv4 import Credentials, RawClient, RawResponse, md5_b64, object_path

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module")
def ep() -> Endpoint:
    return shared_endpoint("http")


@pytest.fixture(scope="module")
def raw(ep: Endpoint) -> RawClient:
    return ep.raw()


@pytest.fixture(scope="module")
def bucket(raw: RawClient) -> str:
    name = f"negreq-{os.urandom(4).hex()}"
    created = raw.request("PUT", object_path(name))
    assert created.status == 200, created.body
    return name


def assert_absent(raw: RawClient, bucket: str, key: str) -> None:
    raw.request("GET", object_path(bucket, key)).assert_error(404, "NoSuchKey")


def bucket_names(raw: RawClient) -> list[str]:
    resp = raw.request("GET", "/")
    assert resp.status == 200, resp.body
    root = ElementTree.fromstring(resp.body)
    return [b.findtext(f"{S3_NS}Name") or "" for b in root.iter(f"{S3_NS}Bucket")]


def keys(raw: RawClient, bucket: str) -> list[str]:
    resp = raw.request("GET", object_path(bucket), query=[("list-type", "2")])
    assert resp.status == 200, resp.body
    root = ElementTree.fromstring(resp.body)
    return [c.findtext(f"{S3_NS}Key") or "" for c in root.findall(f"{S3_NS}Contents")]


def test_content_md5_mismatch(raw: RawClient, bucket: str) -> None:
    resp = raw.request(
        "PUT",
        object_path(bucket, "bad-md5"),
        b"payload",
        {"Content-MD5": md5_b64(b"other payload")},
    )
    resp.assert_error(400, "BadDigest")
    assert_absent(raw, bucket, "bad-md5")


@pytest.mark.parametrize(
    "value",
    ["not base64 at all!", base64.b64encode(b"short").decode(), hashlib.md5(b"x").hexdigest()],
    ids=["garbage", "wrong-length", "hex-not-base64"],
)
def test_content_md5_malformed(raw: RawClient, bucket: str, value: str) -> None:
    key = f"malformed-md5-{len(value)}"
    resp = raw.request("PUT", object_path(bucket, key), b"payload", {"Content-MD5": value})
    resp.assert_error(400, "InvalidDigest")
    assert_absent(raw, bucket, key)


def test_content_md5_correct_is_accepted(raw: RawClient, bucket: str) -> None:
    resp = raw.request(
        "PUT", object_path(bucket, "good-md5"), b"payload", {"Content-MD5": md5_b64(b"payload")}
    )
    assert resp.status == 200, resp.body
    assert raw.request("GET", object_path(bucket, "good-md5")).body == b"payload"


def test_key_too_long(raw: RawClient, bucket: str) -> None:
    before = keys(raw, bucket)
    longest = "k" * 1024
    assert raw.request("PUT", object_path(bucket, longest), b"ok").status == 200
    resp = raw.request("PUT", object_path(bucket, "k" * 1025), b"too long")
    resp.assert_error(400, "KeyTooLongError")
    # 1,025 bytes by UTF-8, not by characters: 341 three-byte characters plus two ASCII bytes.
    multibyte = "€" * 341 + "ab"
    assert len(multibyte.encode()) == 1025
    raw.request("PUT", object_path(bucket, multibyte), b"too long").assert_error(
        400, "KeyTooLongError"
    )
    assert sorted(keys(raw, bucket)) == sorted([*before, longest])


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "UpperCase",
        "under_score",
        "192.168.10.20",
        "-leading",
        "trailing-",
        "double..dot",
        ".leading-dot",
        "xn--punycode",
        "ends-s3alias",
        "space name",
    ],
)
def test_invalid_bucket_name(raw: RawClient, name: str) -> None:
    resp = raw.request("PUT", object_path(name.replace(" ", "%20")))
    resp.assert_error(400, "InvalidBucketName")
    assert name not in bucket_names(raw)


def test_create_bucket_malformed_xml(raw: RawClient) -> None:
    name = f"badxml-{os.urandom(4).hex()}"
    body = b"<CreateBucketConfiguration><LocationConstraint>us-east-1</Location"
    raw.request("PUT", object_path(name), body).assert_error(400, "MalformedXML")
    assert name not in bucket_names(raw)
    head = raw.request("HEAD", object_path(name))
    assert (head.status, head.body) == (404, b"")


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>victim</Key></Object>",
        b"<Delete><Object><Key>victim</Key></Object></Delete><trailing>",
        b"not xml at all",
        b"<Nope><Object><Key>victim</Key></Object></Nope>",
    ],
    ids=["unclosed", "trailing-junk", "not-xml", "wrong-root"],
)
def test_delete_objects_malformed_xml(raw: RawClient, bucket: str, body: bytes) -> None:
    assert raw.request("PUT", object_path(bucket, "victim"), b"survives").status == 200
    resp = raw.request(
        "POST", object_path(bucket), body, {"Content-MD5": md5_b64(body)}, query=[("delete", "")]
    )
    resp.assert_error(400, "MalformedXML")
    assert raw.request("GET", object_path(bucket, "victim")).body == b"survives"


def assert_head_error(resp: RawResponse, status: int) -> None:
    assert resp.status == status, (resp.status, resp.headers)
    assert resp.body == b"", f"HEAD error with a body: {resp.body[:300]!r}"
    assert resp.header("x-amz-request-id"), resp.headers


def test_head_errors_have_no_body(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    assert_head_error(raw.request("HEAD", object_path(bucket, "no-such-key")), 404)
    assert_head_error(raw.request("HEAD", object_path(f"nob-{os.urandom(4).hex()}")), 404)
    bad = Credentials(ep.access_key, "not-the-secret")
    assert_head_error(raw.request("HEAD", object_path(bucket, "x"), creds=bad), 403)


def test_error_request_ids_are_distinct(raw: RawClient, bucket: str) -> None:
    first = raw.request("GET", object_path(bucket, "missing-1")).assert_error(404, "NoSuchKey")
    second = raw.request("GET", object_path(bucket, "missing-2")).assert_error(404, "NoSuchKey")
    assert first["RequestId"] != second["RequestId"]
    # AWS's Error Responses page: Resource names the bucket or object the error is about.
    assert first.get("Resource") == object_path(bucket, "missing-1")
    nobucket = raw.request("GET", object_path(f"nob-{os.urandom(4).hex()}", "k"))
    nobucket.assert_error(404, "NoSuchBucket")
