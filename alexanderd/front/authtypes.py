"""SigV4 building blocks shared by request verification and the aws-chunked decoder: the error
type, the signing context, payload modes, canonical forms and the signing key."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote_from_bytes, unquote_to_bytes

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = frozenset(
    {STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER}
)
_SIGV4A_STREAMING = frozenset(
    {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"}
)

SERVICE = "s3"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CONTENT_SHA256 = "x-amz-content-sha256"

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_BARE_PATH = re.compile(rb"[A-Za-z0-9\-._~/]*")
_WS_RUN = re.compile(r"[ \t]+")


class AuthError(Exception):
    """A request failed authentication or body framing; `code` is the S3 error code to return.

    `details` carries the extra elements AWS puts in the error document (for example
    `HeadersNotSigned`, `Region`, or `StringToSign`/`CanonicalRequest` on a signature mismatch,
    which is what lets a client author debug their signer).
    """

    def __init__(self, code: str, message: str, details: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, str] = dict(details or {})


@dataclass(frozen=True)
class SigningContext:
    """What a verified request hands to the aws-chunked decoder to check chunk signatures."""

    signing_key: bytes = field(repr=False)
    amz_date: str
    scope: str
    seed_signature: str


def payload_mode(headers: Mapping[str, str], *, required: bool = True) -> str:
    """Classify `x-amz-content-sha256`: a lowercase hex SHA-256, `UNSIGNED-PAYLOAD`, or one of the
    STREAMING-* constants. Raises `AuthError` for anything else; a missing header is an error
    unless `required` is false (anonymous requests), in which case the body counts as unsigned."""
    value = headers.get(CONTENT_SHA256)
    if value is None:
        if not required:
            return UNSIGNED_PAYLOAD
        raise AuthError(
            "InvalidRequest", f"Missing required header for this request: {CONTENT_SHA256}"
        )
    return classify_payload_hash(value)


def classify_payload_hash(value: str) -> str:
    """`payload_mode` for a value already in hand (a header or the presigned query parameter)."""
    if value == UNSIGNED_PAYLOAD or value in STREAMING_MODES:
        return value
    if _HEX_SHA256.fullmatch(value):
        return value.lower()
    if value in _SIGV4A_STREAMING:
        raise AuthError(
            "NotImplemented",
            f"{CONTENT_SHA256} {value} (SigV4a, AWS4-ECDSA-P256-SHA256) is not supported by this "
            "server; sign with AWS4-HMAC-SHA256",
        )
    raise AuthError(
        "InvalidArgument",
        f"{CONTENT_SHA256} must be {UNSIGNED_PAYLOAD}, {STREAMING_UNSIGNED_TRAILER}, "
        f"{STREAMING_SIGNED}, {STREAMING_SIGNED_TRAILER} or a valid sha256 value.",
        {"ArgumentName": CONTENT_SHA256, "ArgumentValue": value[:128]},
    )


@lru_cache(maxsize=512)
def derive_signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """HMAC chain AWS4+secret -> date -> region -> service -> aws4_request (cached: it is reused
    by every request of a key for a whole day)."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode("ascii"), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode("utf-8"), "sha256")
    return key


def canonical_uri(raw_path: bytes) -> str:
    """Each segment decoded then encoded with only unreserved characters bare; '/' kept as is."""
    if not raw_path:
        return "/"
    if _BARE_PATH.fullmatch(raw_path):
        return raw_path.decode("ascii")
    if b"%2f" not in raw_path.lower():
        # No encoded '/' inside a segment: one pass over the whole path gives the same result.
        return quote_from_bytes(unquote_to_bytes(raw_path), safe="/")
    return "/".join(
        quote_from_bytes(unquote_to_bytes(segment), safe="") for segment in raw_path.split(b"/")
    )


def canonical_query(query_string: bytes, *, exclude_signature: bool) -> str:
    """Names and values decoded ('+' is a space) and re-encoded (%20), sorted by name then value."""
    pairs = sorted(
        (quote_from_bytes(name, safe=""), quote_from_bytes(value, safe=""))
        for name, value in split_query(query_string)
        if not (exclude_signature and name == b"X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def parse_amz_date(value: str) -> datetime | None:
    """A `YYYYMMDDTHHMMSSZ` timestamp as an aware UTC datetime, or None when malformed."""
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:  # strptime costs more than the rest of a verification
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def split_query(query_string: bytes) -> list[tuple[bytes, bytes]]:
    """Decoded (name, value) pairs in wire order; '+' is a space, a bare name has value b''."""
    pairs: list[tuple[bytes, bytes]] = []
    for part in query_string.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((_unquote(name), _unquote(value)))
    return pairs


def _unquote(raw: bytes) -> bytes:
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    return unquote_to_bytes(raw) if b"%" in raw else raw


def trim_header_value(value: str) -> str:
    """SigV4's Trimall: no leading or trailing blanks, inner runs of blanks as one space."""
    value = value.strip(" \t")
    if "  " in value or "\t" in value:
        value = _WS_RUN.sub(" ", value)
    return value
