"""aws-chunked decoding: AWS's documented vectors and round trips of an independent signed
encoder, with every tampering error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alexanderd.front.chunked import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
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
    AWS_DATA,
    AWS_DATE,
    AWS_SCOPE,
    AWS_SECRET,
    AWS_SIGNED,
    AWS_TRAILER,
    CHUNKS,
    CRC32C,
    CTX,
    CUTS,
    PROPERTY,
    aws_body,
    aws_ctx,
    decode,
    encode_signed,
    failure,
)

# --- AWS's documented examples ----------------------------------------------------------------


def test_aws_example_request_seed_signatures_verify() -> None:
    for example, mode, extra in (
        (AWS_SIGNED, STREAMING_SIGNED, {"content-length": "66824"}),
        (AWS_TRAILER, STREAMING_SIGNED_TRAILER, {"x-amz-trailer": CRC32C}),
    ):
        headers = {
            "host": "s3.amazonaws.com",
            "x-amz-date": AWS_DATE,
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": mode,
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            **extra,
        }
        signed = ";".join(sorted(headers))
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/{AWS_SCOPE}, "
            f"SignedHeaders={signed}, Signature={example['seed']}"
        )
        req = AuthRequest("PUT", b"/examplebucket/chunkObject.txt", b"", headers)
        parsed = parse_auth(req)
        assert parsed is not None and parsed.payload_hash == mode
        now = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
        ctx = verify(req, parsed, AWS_SECRET, now, "us-east-1")
        assert ctx == aws_ctx(example)
        decoder = ChunkedDecoder(
            payload_mode(headers), decoded_content_length(headers), ctx, announced_trailers(headers)
        )
        payload, trailers = decode(decoder, aws_body(example))
        assert payload == b"".join(AWS_DATA)
        assert trailers == ({CRC32C: "sOO8/Q=="} if "trailer" in example else {})


@pytest.mark.parametrize("piece", [1, 7, 86, 4096, 65537, 70000])
def test_aws_examples_decode_in_any_pieces(piece: int) -> None:
    for example, mode, announced in (
        (AWS_SIGNED, STREAMING_SIGNED, ()),
        (AWS_TRAILER, STREAMING_SIGNED_TRAILER, (CRC32C,)),
    ):
        body = aws_body(example)
        decoder = ChunkedDecoder(mode, 66560, aws_ctx(example), announced)
        payload, _ = decode(decoder, body, list(range(piece, len(body), piece)))
        assert payload == b"".join(AWS_DATA)


def test_test_encoder_reproduces_the_aws_example() -> None:
    assert encode_signed(AWS_DATA, aws_ctx(AWS_SIGNED)) == aws_body(AWS_SIGNED)
    trailers = {CRC32C: "sOO8/Q=="}
    assert encode_signed(AWS_DATA, aws_ctx(AWS_TRAILER), trailers) == aws_body(AWS_TRAILER)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"a\r\n400;", b"b\r\n400;"),  # a data byte
        (AWS_SIGNED["chunks"][1].encode(), b"0" * 64),  # a chunk signature
        (AWS_SIGNED["chunks"][2].encode(), AWS_SIGNED["chunks"][1].encode()),  # the final one
        (b"400;chunk-signature=" + AWS_SIGNED["chunks"][1].encode(), b"400"),  # one missing
        (b";chunk-signature=", b";chunk-signature=;"),  # malformed extension
    ],
)
def test_aws_example_tampering_breaks_the_chain(old: bytes, new: bytes) -> None:
    body = aws_body(AWS_SIGNED).replace(old, new, 1)
    decoder = ChunkedDecoder(STREAMING_SIGNED, 66560, aws_ctx(AWS_SIGNED), ())
    assert failure(decoder, body).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (b"sOO8/Q==", b"AAAAAA==", "SignatureDoesNotMatch"),
        (AWS_TRAILER["trailer_signature"].encode(), b"1" * 64, "SignatureDoesNotMatch"),
        (b"x-amz-trailer-signature:", b"x-amz-trailer-signaturX:", "MalformedTrailerError"),
        (
            b"sOO8/Q==\r\n",
            b"sOO8/Q==\r\nx-amz-checksum-crc32:AAAAAA==\r\n",
            "MalformedTrailerError",
        ),
        (b"x-amz-checksum-crc32c:sOO8/Q==\r\n", b"", "SignatureDoesNotMatch"),
    ],
)
def test_aws_trailer_tampering(old: bytes, new: bytes, code: str) -> None:
    body = aws_body(AWS_TRAILER).replace(old, new, 1)
    decoder = ChunkedDecoder(STREAMING_SIGNED_TRAILER, 66560, aws_ctx(AWS_TRAILER), (CRC32C,))
    assert failure(decoder, body).code == code


def test_trailer_signature_must_be_present_and_last() -> None:
    good = aws_body(AWS_TRAILER)
    cut = good.index(b"x-amz-trailer-signature")
    for body, code in (
        (good[:cut] + b"\r\n", "SignatureDoesNotMatch"),
        (good[:-2] + f"{CRC32C}:sOO8/Q==\r\n\r\n".encode(), "MalformedTrailerError"),
    ):
        decoder = ChunkedDecoder(STREAMING_SIGNED_TRAILER, 66560, aws_ctx(AWS_TRAILER), (CRC32C,))
        assert failure(decoder, body).code == code


# --- round trips through an independent signed encoder ----------------------------------------


@PROPERTY
@given(chunks=CHUNKS, cuts=CUTS)
def test_signed_round_trip(chunks: list[bytes], cuts: list[int]) -> None:
    payload = b"".join(chunks)
    decoder = ChunkedDecoder(STREAMING_SIGNED, len(payload), CTX, ())
    assert decode(decoder, encode_signed(chunks, CTX), cuts) == (payload, {})


@PROPERTY
@given(chunks=CHUNKS, cuts=CUTS, checksum=st.sampled_from(["AAAAAA==", "3q2+7w==", "x"]))
def test_signed_trailer_round_trip(chunks: list[bytes], cuts: list[int], checksum: str) -> None:
    payload = b"".join(chunks)
    trailers = {"x-amz-checksum-crc32": checksum}
    body = encode_signed(chunks, CTX, trailers)
    decoder = ChunkedDecoder(STREAMING_SIGNED_TRAILER, len(payload), CTX, list(trailers))
    assert decode(decoder, body, cuts) == (payload, trailers)


@PROPERTY
@given(chunks=CHUNKS.filter(bool), cuts=CUTS, data=st.data())
def test_every_truncation_is_incomplete(chunks: list[bytes], cuts: list[int], data: Any) -> None:
    body = encode_signed(chunks, CTX, {"x-amz-checksum-sha256": "abc="})
    end = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    decoder = ChunkedDecoder(STREAMING_SIGNED_TRAILER, None, CTX, ["x-amz-checksum-sha256"])
    assert failure(decoder, body[:end], cuts).code == "IncompleteBody"


@PROPERTY
@given(chunks=CHUNKS.filter(bool), data=st.data())
def test_a_flipped_byte_never_changes_what_is_accepted(chunks: list[bytes], data: Any) -> None:
    trailers = {"x-amz-checksum-crc32": "AAAAAA=="}
    body = bytearray(encode_signed(chunks, CTX, trailers))
    at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    body[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    decoder = ChunkedDecoder(STREAMING_SIGNED_TRAILER, None, CTX, list(trailers))
    try:
        result = decode(decoder, bytes(body))
    except AuthError:
        return
    # Only a change with no meaning gets through (the case of a hex digit or a trailer name).
    assert result == (b"".join(chunks), trailers)


def test_reordered_dropped_and_replayed_chunks_are_caught() -> None:
    body = encode_signed([b"one" * 100, b"two" * 100, b"three"], CTX)
    parts = body.split(b"\r\n")
    first = b"\r\n".join(parts[0:2]) + b"\r\n"
    second = b"\r\n".join(parts[2:4]) + b"\r\n"
    rest = b"\r\n".join(parts[4:])
    for bad in (second + first + rest, first + rest, second + rest, first + first + rest):
        decoder = ChunkedDecoder(STREAMING_SIGNED, None, CTX, ())
        assert failure(decoder, bad).code == "SignatureDoesNotMatch"
    assert decode(ChunkedDecoder(STREAMING_SIGNED, None, CTX, ()), first + second + rest)[0] == (
        b"one" * 100 + b"two" * 100 + b"three"
    )
