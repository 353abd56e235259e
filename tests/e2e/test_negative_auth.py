"""Requests whose authentication is wrong are refused with AWS's code, and store nothing.

Raw http.client with our own signer, so no client library can repair the request. Each refusal is
followed by a correctly signed GET of the same key, which must answer NoSuchKey; each streaming
mode also has a correct upload as its control, so a server that refuses everything fails too.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.clients_endpoint import Endpoint, shared_endpoint
from tests.e2e.clients_sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    Credentials,
    RawClient,
    RawResponse,
    crc32_b64,
    object_path,
    sign,
    signed_chunks,
    signed_chunks_length,
    signed_trailer_chunks,
    unsigned_trailer_chunks,
)

CHUNK = 64 * 1024  # AWS requires every chunk but the last to be at least 8 KiB


@pytest.fixture(scope="module")
def ep() -> Endpoint:
    return shared_endpoint("http")


@pytest.fixture(scope="module")
def raw(ep: Endpoint) -> RawClient:
    return ep.raw()


@pytest.fixture(scope="module")
def bucket(raw: RawClient) -> str:
    name = f"negauth-{os.urandom(4).hex()}"
    created = raw.request("PUT", object_path(name))
    assert created.status == 200, created.body
    return name


def assert_absent(raw: RawClient, bucket: str, key: str) -> None:
    raw.request("GET", object_path(bucket, key)).assert_error(404, "NoSuchKey")


def assert_stored(raw: RawClient, bucket: str, key: str, data: bytes) -> None:
    got = raw.request("GET", object_path(bucket, key))
    assert got.status == 200, got.body[:500]
    assert hashlib.sha256(got.body).hexdigest() == hashlib.sha256(data).hexdigest()


def test_wrong_secret(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    bad = Credentials(ep.access_key, ep.secret_key[::-1])
    resp = raw.request("PUT", object_path(bucket, "wrong-secret"), b"data", creds=bad)
    resp.assert_error(403, "SignatureDoesNotMatch")
    assert_absent(raw, bucket, "wrong-secret")


def test_unknown_access_key(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    unknown = Credentials("AKIA" + os.urandom(8).hex().upper(), ep.secret_key)
    resp = raw.request("PUT", object_path(bucket, "unknown-key"), b"data", creds=unknown)
    error = resp.assert_error(403, "InvalidAccessKeyId")
    assert error.get("AWSAccessKeyId") in (None, unknown.access_key)
    assert_absent(raw, bucket, "unknown-key")


def test_content_sha256_mismatch(raw: RawClient, bucket: str) -> None:
    body = b"the body that is sent"
    resp = raw.request(
        "PUT",
        object_path(bucket, "sha-mismatch"),
        body,
        payload_hash=hashlib.sha256(b"another body").hexdigest(),
    )
    resp.assert_error(400, "XAmzContentSHA256Mismatch")
    assert_absent(raw, bucket, "sha-mismatch")


@pytest.mark.parametrize("skew", [timedelta(minutes=-20), timedelta(minutes=20)])
def test_clock_skew(raw: RawClient, bucket: str, skew: timedelta) -> None:
    key = f"skewed-{int(skew.total_seconds())}"
    resp = raw.request("PUT", object_path(bucket, key), b"data", when=datetime.now(UTC) + skew)
    resp.assert_error(403, "RequestTimeTooSkewed")
    assert_absent(raw, bucket, key)


def put_signed_chunked(
    ep: Endpoint,
    raw: RawClient,
    bucket: str,
    key: str,
    data: bytes,
    tamper: int | None = None,
    tamper_data: bool = False,
) -> RawResponse:
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, chunk signatures chained from the seed."""
    path = object_path(bucket, key)
    encoded_len = signed_chunks_length(len(data), CHUNK)
    headers = {
        "Host": raw.netloc,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "Content-Length": str(encoded_len),
    }
    seed = sign(ep.creds, "PUT", path, [], headers, STREAMING_SIGNED)
    body = signed_chunks(data, CHUNK, seed, tamper_chunk=tamper)
    if tamper_data:
        # Same length and signatures, one payload byte changed: the chunk's hash no longer matches.
        at = body.index(b"\r\n") + 2 + 10
        body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
    assert len(body) == encoded_len
    return raw.request("PUT", path, body, seed.headers, sign_request=False)


def test_signed_chunked_upload_control(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(3 * CHUNK + 1000)
    resp = put_signed_chunked(ep, raw, bucket, "chunked-ok", data)
    assert resp.status == 200, resp.body
    assert resp.header("etag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert_stored(raw, bucket, "chunked-ok", data)


@pytest.mark.parametrize("tamper", [0, 2, 4], ids=["first", "middle", "final-empty"])
def test_tampered_chunk_signature(ep: Endpoint, raw: RawClient, bucket: str, tamper: int) -> None:
    data = os.urandom(3 * CHUNK + 1000)  # chunks 0..3 carry data, chunk 4 is the empty last one
    key = f"chunk-tampered-{tamper}"
    put_signed_chunked(ep, raw, bucket, key, data, tamper=tamper).assert_error(
        403, "SignatureDoesNotMatch"
    )
    assert_absent(raw, bucket, key)


def test_tampered_chunk_data(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(2 * CHUNK)
    resp = put_signed_chunked(ep, raw, bucket, "chunk-data-tampered", data, tamper_data=True)
    resp.assert_error(403, "SignatureDoesNotMatch")
    assert_absent(raw, bucket, "chunk-data-tampered")


def put_unsigned_trailer(
    ep: Endpoint, raw: RawClient, bucket: str, key: str, data: bytes, checksum: str
) -> RawResponse:
    path = object_path(bucket, key)
    body = unsigned_trailer_chunks(data, CHUNK, ("x-amz-checksum-crc32", checksum))
    headers = {
        "Host": raw.netloc,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(body)),
    }
    signed = sign(ep.creds, "PUT", path, [], headers, STREAMING_UNSIGNED_TRAILER)
    return raw.request("PUT", path, body, signed.headers, sign_request=False)


def test_unsigned_trailer_control(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(2 * CHUNK + 5)
    resp = put_unsigned_trailer(ep, raw, bucket, "trailer-ok", data, crc32_b64(data))
    assert resp.status == 200, resp.body
    assert resp.header("etag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert_stored(raw, bucket, "trailer-ok", data)
    head = raw.request(
        "HEAD", object_path(bucket, "trailer-ok"), headers={"x-amz-checksum-mode": "ENABLED"}
    )
    assert head.header("x-amz-checksum-crc32") == crc32_b64(data)


def test_tampered_trailer_checksum(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(2 * CHUNK + 5)
    wrong = crc32_b64(data + b"!")
    resp = put_unsigned_trailer(ep, raw, bucket, "trailer-bad", data, wrong)
    resp.assert_error(400, "BadDigest")
    assert_absent(raw, bucket, "trailer-bad")


def put_signed_trailer(
    ep: Endpoint, raw: RawClient, bucket: str, key: str, data: bytes, checksum: str,
    sent: str | None = None,
) -> RawResponse:  # fmt: skip
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER and a signed x-amz-checksum-crc32."""
    path = object_path(bucket, key)
    headers = {
        "Host": raw.netloc,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    seed = sign(ep.creds, "PUT", path, [], headers, STREAMING_SIGNED_TRAILER)
    body = signed_trailer_chunks(data, CHUNK, seed, ("x-amz-checksum-crc32", checksum), sent)
    # Content-Length is left unsigned (RawClient adds it), as SDKs that stream do.
    return raw.request("PUT", path, body, seed.headers, sign_request=False)


def test_signed_trailer_control(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(2 * CHUNK + 7)
    resp = put_signed_trailer(ep, raw, bucket, "signed-trailer-ok", data, crc32_b64(data))
    assert resp.status == 200, resp.body
    assert_stored(raw, bucket, "signed-trailer-ok", data)


def test_signed_trailer_value_swapped_after_signing(
    ep: Endpoint, raw: RawClient, bucket: str
) -> None:
    # The trailer carries its own signature: a value changed in flight must fail authentication,
    # even when the new value is the true checksum of the bytes that arrived.
    data = os.urandom(2 * CHUNK + 7)
    signed_for_other = crc32_b64(data + b"?")
    resp = put_signed_trailer(ep, raw, bucket, "signed-trailer-swapped", data, signed_for_other,
                              sent=crc32_b64(data))  # fmt: skip
    resp.assert_error(403, "SignatureDoesNotMatch")
    assert_absent(raw, bucket, "signed-trailer-swapped")


def test_signed_trailer_wrong_checksum(ep: Endpoint, raw: RawClient, bucket: str) -> None:
    data = os.urandom(2 * CHUNK + 7)
    resp = put_signed_trailer(ep, raw, bucket, "signed-trailer-bad", data, crc32_b64(b"other"))
    resp.assert_error(400, "BadDigest")
    assert_absent(raw, bucket, "signed-trailer-bad")


def test_harness_signer_matches_aws_example() -> None:
    """Our chunk signer reproduces the worked example of AWS's "Transferring Payload in Multiple
    Chunks" page, so a refusal above is the server's verdict, not a bug in the test's signer."""
    creds = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    headers = {
        "Host": "s3.amazonaws.com",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "Content-Length": "66824",
    }
    when = datetime(2013, 5, 24, tzinfo=UTC)
    seed = sign(creds, "PUT", "/examplebucket/chunkObject.txt", [], headers, STREAMING_SIGNED, when)
    assert seed.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body = signed_chunks(b"a" * 66560, 65536, seed)
    assert len(body) == signed_chunks_length(66560, 65536) == 66824
    assert body.count(b";chunk-signature=") == 3
    for expected in (
        b"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        b"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        b"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ):
        assert b";chunk-signature=" + expected + b"\r\n" in body
