"""aws-chunked decoding: AWS's documented vectors and round trips of an independent signed
encoder, with every tampering error."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alexanderd.front.authtypes import EMPTY_SHA256
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
    SigningContext,
    derive_signing_key,
    parse_auth,
    verify,
)

PROPERTY = settings(deadline=None, derandomize=True, max_examples=80)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_DATE = "20130524T000000Z"
AWS_SCOPE = "20130524/us-east-1/s3/aws4_request"
AWS_KEY = derive_signing_key(AWS_SECRET, "20130524", "us-east-1")
CRC32C = "x-amz-checksum-crc32c"

# "Example: PUT Object" of AWS's chunked-upload page, and its trailing-header variant.
AWS_SIGNED = {
    "seed": "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "chunks": [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ],
}
AWS_TRAILER = {
    "seed": "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    "chunks": [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ],
    "trailer": f"{CRC32C}:sOO8/Q==",
    "trailer_signature": "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
}
AWS_DATA = [b"a" * 65536, b"a" * 1024]


def aws_body(example: dict[str, Any]) -> bytes:
    sigs = example["chunks"]
    body = b"".join(
        b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), sig.encode(), data)
        for data, sig in zip(AWS_DATA, sigs, strict=False)
    )
    body += b"0;chunk-signature=%s\r\n" % sigs[2].encode()
    if "trailer" in example:
        body += b"%s\r\nx-amz-trailer-signature:%s\r\n" % (
            example["trailer"].encode(),
            example["trailer_signature"].encode(),
        )
    return body + b"\r\n"


def aws_ctx(example: dict[str, Any]) -> SigningContext:
    return SigningContext(AWS_KEY, AWS_DATE, AWS_SCOPE, example["seed"])


def hmac_hex(key: bytes, *lines: str) -> str:
    return hmac.new(key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()


def encode_signed(
    chunks: list[bytes], ctx: SigningContext, trailers: dict[str, str] | None = None
) -> bytes:
    """An aws-chunked body signed per AWS's spec, written independently of the decoder."""
    prev = ctx.seed_signature
    out: list[bytes] = []
    for data in [*chunks, b""]:
        digest = hashlib.sha256(data).hexdigest()
        head = ("AWS4-HMAC-SHA256-PAYLOAD", ctx.amz_date, ctx.scope)
        prev = hmac_hex(ctx.signing_key, *head, prev, EMPTY_SHA256, digest)
        out.append(b"%x;chunk-signature=%s\r\n" % (len(data), prev.encode()))
        if data:
            out.append(data + b"\r\n")
    if trailers is not None:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers.items())
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        head = ("AWS4-HMAC-SHA256-TRAILER", ctx.amz_date, ctx.scope)
        signature = hmac_hex(ctx.signing_key, *head, prev, digest)
        out.extend(f"{name}:{value}\r\n".encode() for name, value in trailers.items())
        out.append(f"x-amz-trailer-signature:{signature}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def decode(
    decoder: ChunkedDecoder, body: bytes, cuts: list[int] | None = None
) -> tuple[bytes, dict[str, str]]:
    """Feed `body` split at `cuts` (or in one piece); return the payload and the trailers."""
    bounds = [0, *sorted({c % (len(body) + 1) for c in cuts or []}), len(body)]
    out: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        out.extend(decoder.feed(body[start:end]))
    trailers = decoder.finish()
    return b"".join(out), trailers


def failure(decoder: ChunkedDecoder, body: bytes, cuts: list[int] | None = None) -> AuthError:
    with pytest.raises(AuthError) as info:
        decode(decoder, body, cuts)
    return info.value


CTX = SigningContext(
    derive_signing_key("secret", "20261128", "eu-west-3"),
    "20261128T200000Z",
    "20261128/eu-west-3/s3/aws4_request",
    "f" * 64,
)
CHUNKS = st.lists(st.binary(min_size=1, max_size=3000), max_size=6)
CUTS = st.lists(st.integers(min_value=0, max_value=20000), max_size=12)


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
