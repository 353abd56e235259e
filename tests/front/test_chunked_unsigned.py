"""aws-chunked unsigned-trailer bodies as botocore writes them, framing errors, helpers."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha256Checksum
from hypothesis import given
from hypothesis import strategies as st

from alexanderd.front.chunked import (
    MAX_LINE,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    ChunkedDecoder,
    announced_trailers,
    decoded_content_length,
    payload_mode,
)
from alexanderd.front.sigv4 import (
    AuthError,
    AuthRequest,
    parse_auth,
    verify,
)
from tests.front.chunked_support import (
    AWS_DATE,
    AWS_SCOPE,
    AWS_SECRET,
    CRC32C,
    CTX,
    CUTS,
    PROPERTY,
    decode,
    encode_signed,
    failure,
)
from tests.front.sigv4_support import captured_client, wire_request

# --- STREAMING-UNSIGNED-PAYLOAD-TRAILER as botocore writes it ---------------------------------


def botocore_body(payload: bytes, chunk_size: int, checksum: Any = Crc32Checksum) -> bytes:
    name = "x-amz-checksum-sha256" if checksum is Sha256Checksum else "x-amz-checksum-crc32"
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload), checksum_cls=checksum, checksum_name=name, chunk_size=chunk_size
    )
    return bytes(wrapper.read())


@PROPERTY
@given(payload=st.binary(max_size=5000), chunk=st.integers(1, 2048), cuts=CUTS)
def test_botocore_unsigned_trailer_bodies(payload: bytes, chunk: int, cuts: list[int]) -> None:
    for checksum, name in ((Crc32Checksum, "crc32"), (Sha256Checksum, "sha256")):
        expected = checksum()
        expected.update(payload)
        trailer = f"x-amz-checksum-{name}"
        decoder = ChunkedDecoder(STREAMING_UNSIGNED_TRAILER, len(payload), None, [trailer])
        body = botocore_body(payload, chunk, checksum)
        assert decode(decoder, body, cuts) == (payload, {trailer: expected.b64digest()})


def test_boto3_put_object_end_to_end() -> None:
    client, sent = captured_client("AK1", "SK1", "us-east-1", "https://s3.test")
    payload = bytes(range(256)) * 5000
    client.put_object(Bucket="b", Key="k", Body=io.BytesIO(payload), ChecksumAlgorithm="SHA256")
    (request,) = sent
    req = wire_request(request)
    parsed = parse_auth(req)
    assert parsed is not None and parsed.payload_hash == STREAMING_UNSIGNED_TRAILER
    ctx = verify(req, parsed, "SK1", datetime.now(UTC), "us-east-1")
    body = request.body.read()
    decoder = ChunkedDecoder(
        payload_mode(req.headers),
        decoded_content_length(req.headers),
        ctx,
        announced_trailers(req.headers),
    )
    data, trailers = decode(decoder, body, list(range(0, len(body), 65536)))
    assert data == payload

    assert trailers == {
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(payload).digest()).decode()
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"5;chunk-signature=" + b"0" * 64 + b"\r\nhello\r\n0\r\n\r\n", "InvalidRequest"),
        (b"5\r\nhello\r\n0\r\nx-amz-checksum-sha1:abc\r\n\r\n", "MalformedTrailerError"),
        (
            b"5\r\nhello\r\n0\r\nx-amz-trailer-signature:" + b"0" * 64 + b"\r\n\r\n",
            "MalformedTrailerError",
        ),
        (b"5\r\nhello\r\n0\r\n\r\n", "MalformedTrailerError"),  # the announced trailer is missing
        (b"5\r\nhello\r\n0\r\nno colon here\r\n\r\n", "MalformedTrailerError"),
        (
            b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:a\r\nx-amz-checksum-crc32:a\r\n\r\n",
            "MalformedTrailerError",
        ),
        (b"5\r\nhelloX\r\n0\r\nx-amz-checksum-crc32:a\r\n\r\n", "InvalidRequest"),
        (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:a\r\n\r\nmore", "InvalidRequest"),
        (b"zz\r\nhello\r\n", "InvalidRequest"),
        (b"-5\r\nhello\r\n", "InvalidRequest"),
        (b"6\r\nhello!\r\n0\r\nx-amz-checksum-crc32:a\r\n\r\n", "InvalidRequest"),  # > decoded
        (b"4\r\nhell\r\n0\r\nx-amz-checksum-crc32:a\r\n\r\n", "IncompleteBody"),  # < decoded
        (b"5\r\nhello", "IncompleteBody"),
        (b"5" * (MAX_LINE + 10), "InvalidRequest"),
        (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + b"a" * MAX_LINE, "MalformedTrailerError"),
    ],
)
def test_unsigned_trailer_framing_errors(body: bytes, code: str) -> None:
    for cuts in (None, list(range(1, len(body), 3))):
        decoder = ChunkedDecoder(STREAMING_UNSIGNED_TRAILER, 5, None, ["x-amz-checksum-crc32"])
        assert failure(decoder, body, cuts).code == code


def test_a_line_of_exactly_max_length_is_accepted() -> None:
    value = "v" * (MAX_LINE - len("x-amz-checksum-crc32:"))
    body = b"0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % value.encode()
    for cuts in (None, [1, MAX_LINE - 3, MAX_LINE + 2]):
        decoder = ChunkedDecoder(STREAMING_UNSIGNED_TRAILER, 0, None, ["x-amz-checksum-crc32"])
        assert decode(decoder, body, cuts) == (b"", {"x-amz-checksum-crc32": value})


def test_errors_are_sticky() -> None:
    decoder = ChunkedDecoder(STREAMING_UNSIGNED_TRAILER, None, None, [])
    with pytest.raises(AuthError) as first:
        decoder.feed(b"xyz\r\n")
    with pytest.raises(AuthError) as again:
        decoder.feed(b"0\r\n\r\n")
    assert again.value is first.value
    with pytest.raises(AuthError):
        decoder.finish()


def test_signed_mode_refuses_trailers_it_cannot_verify() -> None:
    body = encode_signed([b"data"], CTX)[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    decoder = ChunkedDecoder(STREAMING_SIGNED, 4, CTX, ())
    assert failure(decoder, body).code == "MalformedTrailerError"
    with pytest.raises(AuthError, match="x-amz-trailer is not allowed"):
        ChunkedDecoder(STREAMING_SIGNED, 4, CTX, ["x-amz-checksum-crc32"])
    with pytest.raises(ValueError, match="SigningContext"):
        ChunkedDecoder(STREAMING_SIGNED_TRAILER, 4, None, [])
    with pytest.raises(ValueError, match="payload mode"):
        ChunkedDecoder("UNSIGNED-PAYLOAD", 4, None, [])


# --- header helpers ---------------------------------------------------------------------------


def test_payload_mode() -> None:
    digest = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
    assert payload_mode({"x-amz-content-sha256": digest}) == digest.lower()
    for value in (
        "UNSIGNED-PAYLOAD",
        STREAMING_SIGNED,
        STREAMING_SIGNED_TRAILER,
        STREAMING_UNSIGNED_TRAILER,
    ):
        assert payload_mode({"x-amz-content-sha256": value}) == value
    assert payload_mode({}, required=False) == "UNSIGNED-PAYLOAD"
    for value, code in (
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "NotImplemented"),
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER", "NotImplemented"),
        ("streaming-aws4-hmac-sha256-payload", "InvalidArgument"),
        ("e3b0", "InvalidArgument"),
    ):
        with pytest.raises(AuthError) as info:
            payload_mode({"x-amz-content-sha256": value})
        assert info.value.code == code
    with pytest.raises(AuthError, match="Missing required header") as info:
        payload_mode({})
    assert info.value.code == "InvalidRequest"


def test_announced_trailers_and_decoded_length() -> None:
    assert announced_trailers({}) == ()
    headers = {"x-amz-trailer": "X-Amz-Checksum-CRC32C, x-amz-checksum-sha1"}
    assert announced_trailers(headers) == (CRC32C, "x-amz-checksum-sha1")
    for value in ("x-amz-meta-evil", "x-amz-checksum-crc32,x-amz-checksum-crc32"):
        with pytest.raises(AuthError) as info:
            announced_trailers({"x-amz-trailer": value})
        assert info.value.code == "InvalidRequest"
    assert decoded_content_length({"x-amz-decoded-content-length": "66560"}) == 66560
    for headers, code in (
        ({}, "MissingContentLength"),
        ({"x-amz-decoded-content-length": "-1"}, "InvalidArgument"),
    ):
        with pytest.raises(AuthError) as info:
            decoded_content_length(headers)
        assert info.value.code == code


def test_skewed_seed_never_reaches_the_decoder() -> None:
    # The seed signature is the request signature: a request outside the clock window fails
    # before any chunk is decoded.
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": AWS_DATE,
        "x-amz-content-sha256": STREAMING_SIGNED,
        "authorization": f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{AWS_SCOPE}, "
        f"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={'0' * 64}",
    }
    req = AuthRequest("PUT", b"/b/k", b"", headers)
    parsed = parse_auth(req)
    assert parsed is not None
    late = datetime(2013, 5, 24, tzinfo=UTC) + timedelta(hours=1)
    with pytest.raises(AuthError) as info:
        verify(req, parsed, AWS_SECRET, late, "us-east-1")
    assert info.value.code == "RequestTimeTooSkewed"
