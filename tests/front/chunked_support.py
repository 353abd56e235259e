"""Shared vectors, encoders and helpers of the aws-chunked decoder tests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st

from alexanderd.front.authtypes import EMPTY_SHA256
from alexanderd.front.chunked import (
    ChunkedDecoder,
)
from alexanderd.front.sigv4 import (
    AuthError,
    SigningContext,
    derive_signing_key,
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
