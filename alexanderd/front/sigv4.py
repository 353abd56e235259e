"""SigV4 request authentication: read the credentials a request carries and verify its signature.

Pure functions, no I/O. The caller looks the access key up (raising `InvalidAccessKeyId` itself),
then calls `verify`, which returns the `SigningContext` an aws-chunked body is checked against.
Canonicalization follows AWS's "Signature Version 4 signing process" for S3: the path is not
normalized (no dot-segment removal, `//` kept), each path segment and query name/value is decoded
and re-encoded with only A-Za-z0-9-_.~ left bare, so a client that sent `!` or `~` raw and one that
sent it percent-encoded both verify.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from alexanderd.front.authtypes import (
    AMZ_DATE_FORMAT,
    CONTENT_SHA256,
    EMPTY_SHA256,
    SERVICE,
    TERMINATOR,
    UNSIGNED_PAYLOAD,
    AuthError,
    SigningContext,
    canonical_query,
    canonical_uri,
    classify_payload_hash,
    derive_signing_key,
    parse_amz_date,
    payload_mode,
    split_query,
    trim_header_value,
)

__all__ = [
    "ALGORITHM",
    "MAX_PRESIGN_EXPIRES",
    "MAX_SKEW",
    "AuthError",
    "AuthRequest",
    "ParsedAuth",
    "SigningContext",
    "auth_request_from_asgi",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "classify_payload_hash",
    "derive_signing_key",
    "parse_amz_date",
    "parse_auth",
    "payload_mode",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # seven days, AWS's limit for SigV4 presigned URLs

_SIGV2 = (
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
)
_SIGV4A = "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported by this server; use AWS4-HMAC-SHA256."
_THREE_PARTS = (
    "the authorization header requires three components: Credential, SignedHeaders, and Signature."
)
_BAD_CREDENTIAL = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
_QUERY_REQUIRED = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_REQUIRED_QUERY = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_PRESIGN_MARKERS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"})
_SCOPE_DATE = re.compile(r"\d{8}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")


@dataclass(frozen=True)
class AuthRequest:
    """What the front knows about an HTTP request.

    `headers` has lowercase names, repeated headers joined with ",", and values decoded from the
    wire as latin-1 (lossless), so the canonical request is rebuilt from the exact bytes signed.
    """

    method: str
    raw_path: bytes
    query_string: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class ParsedAuth:
    """The credentials a request carries, syntactically valid but not yet verified.

    `payload_hash` is the value signed as the canonical request's last line, exactly as the client
    sent it; `classify_payload_hash(payload_hash)` gives the lowercase hex or STREAMING-* mode.
    """

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    scope: str
    region: str
    presigned: bool
    payload_hash: str
    expires: int | None = None  # X-Amz-Expires seconds, presigned only
    # The signature covers no body hash the client declared (old curl): the body is unsigned.
    body_unsigned: bool = False


def auth_request_from_asgi(
    method: str, raw_path: bytes, query_string: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> AuthRequest:
    """Build an `AuthRequest` from ASGI scope fields, joining repeated headers as SigV4 does."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        previous = joined.get(name)
        joined[name] = value if previous is None else f"{previous},{value}"
    return AuthRequest(method, raw_path, query_string, joined)


def parse_auth(req: AuthRequest) -> ParsedAuth | None:
    """The request's SigV4 credentials, or None when it carries none (anonymous).

    Raises `AuthError` for malformed credentials and for schemes this server does not accept
    (SigV2 headers and query strings, SigV4a, unknown Authorization types)."""
    params = _decode_query(req.query_string)
    names = {name for name, _ in params}
    authorization = req.headers.get("authorization")
    presigned = not names.isdisjoint(_PRESIGN_MARKERS)
    if authorization is not None and presigned:
        raise AuthError(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
            "query string parameter or the Authorization header should be specified",
        )
    if authorization is not None:
        return _parse_header_auth(authorization, req.headers)
    if presigned:
        return _parse_query_auth(params, req.headers)
    if "AWSAccessKeyId" in names or ("Signature" in names and "Expires" in names):
        raise AuthError("InvalidRequest", _SIGV2)
    return None


def verify(
    req: AuthRequest, parsed: ParsedAuth, secret: str, now: datetime, region: str
) -> SigningContext:
    """Check scope, time and signed-header rules, then the signature (in constant time).

    `now` should be timezone-aware (a naive value is taken as UTC); `region` is the one this server
    answers for. Returns the context that chunk and trailer signatures chain from."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    malformed = _Malformed(parsed.presigned)
    parts = parsed.scope.split("/")
    if len(parts) != 4:
        raise malformed(_BAD_CREDENTIAL)
    date, scope_region, service, terminator = parts
    if date != parsed.amz_date[:8]:
        raise malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
    if service != SERVICE:
        raise malformed(f'incorrect service "{service}". This endpoint belongs to "{SERVICE}".')
    if terminator != TERMINATOR:
        raise malformed(f'incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".')
    if scope_region != region:
        raise malformed(
            f"the region '{scope_region}' is wrong; expecting '{region}'", {"Region": region}
        )
    signed = frozenset(parsed.signed_headers)
    if "host" not in signed:
        raise malformed("the SignedHeaders must include host.")
    unsigned = sorted(
        name
        for name in req.headers
        if name.startswith("x-amz-")
        and name not in signed
        and not (parsed.presigned and name == CONTENT_SHA256)
    )
    if unsigned:
        raise AuthError(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            {"HeadersNotSigned": ", ".join(unsigned)},
        )
    _check_time(parsed, now)

    canonical = canonical_request(req, parsed)
    string_to_sign = "\n".join(
        (ALGORITHM, parsed.amz_date, parsed.scope, hashlib.sha256(canonical).hexdigest())
    )
    key = derive_signing_key(secret, date, scope_region, service)
    expected = hmac.new(key, string_to_sign.encode("ascii"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(
        expected.encode("ascii"), parsed.signature.encode("utf-8", "replace")
    ):
        raise AuthError(
            "SignatureDoesNotMatch",
            _MISMATCH,
            {
                "AWSAccessKeyId": parsed.access_key_id,
                "StringToSign": string_to_sign,
                "SignatureProvided": parsed.signature,
                "CanonicalRequest": canonical.decode("latin-1"),
            },
        )
    return SigningContext(key, parsed.amz_date, parsed.scope, expected)


def canonical_request(req: AuthRequest, parsed: ParsedAuth) -> bytes:
    """The canonical request bytes whose SHA-256 the string to sign covers."""
    header_lines = "".join(
        f"{name}:{trim_header_value(req.headers.get(name, ''))}\n" for name in parsed.signed_headers
    )
    text = "\n".join(
        (
            req.method,
            canonical_uri(req.raw_path),
            canonical_query(req.query_string, exclude_signature=parsed.presigned),
            header_lines,
            ";".join(parsed.signed_headers),
            parsed.payload_hash,
        )
    )
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        # Headers not decoded as latin-1 by the caller: utf-8 is what every SDK signs.
        return text.encode("utf-8")


def _decode_query(query_string: bytes) -> list[tuple[str, str]]:
    return [
        (name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
        for name, value in split_query(query_string)
    ]


class _Malformed:
    """Builds the scheme's "malformed credentials" error with AWS's wording and code."""

    def __init__(self, presigned: bool) -> None:
        self.presigned = presigned

    def __call__(self, detail: str, details: Mapping[str, str] | None = None) -> AuthError:
        if self.presigned:
            return AuthError(
                "AuthorizationQueryParametersError",
                f"Error parsing the X-Amz-Credential parameter; {detail}",
                details,
            )
        return AuthError(
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; {detail}",
            details,
        )


def _parse_header_auth(value: str, headers: Mapping[str, str]) -> ParsedAuth:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS":
            raise AuthError("InvalidRequest", _SIGV2)
        if algorithm == "AWS4-ECDSA-P256-SHA256":
            raise AuthError("InvalidRequest", _SIGV4A)
        raise AuthError(
            "InvalidArgument",
            "Unsupported Authorization Type",
            {"ArgumentName": "Authorization", "ArgumentValue": value[:128]},
        )
    malformed = _Malformed(False)
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, field = part.strip().partition("=")
        if not eq or key not in ("Credential", "SignedHeaders", "Signature") or key in fields:
            raise malformed(_THREE_PARTS)
        fields[key] = field.strip()
    if len(fields) != 3:
        raise malformed(_THREE_PARTS)
    access_key, scope, region = _split_credential(fields["Credential"], malformed)
    signed = _split_signed_headers(fields["SignedHeaders"], malformed)
    amz_date = _header_date(headers)
    payload = headers.get(CONTENT_SHA256)
    if payload is None:
        # AWS refuses this (InvalidRequest), but curl before 8.x (--aws-sigv4; Debian 12 ships
        # 7.88) sends no x-amz-content-sha256 and signs the empty-body hash even for uploads.
        # Verify what it signed and treat the body as unsigned: no weaker than
        # UNSIGNED-PAYLOAD, which every client may ask for.
        return ParsedAuth(
            access_key, signed, fields["Signature"], amz_date, scope, region, False,
            EMPTY_SHA256, body_unsigned=True,
        )  # fmt: skip
    classify_payload_hash(payload)  # raises for an unknown value
    return ParsedAuth(
        access_key, signed, fields["Signature"], amz_date, scope, region, False, payload
    )


def _parse_query_auth(params: list[tuple[str, str]], headers: Mapping[str, str]) -> ParsedAuth:
    query: dict[str, str] = {}
    for name, value in params:
        if name in query and name in _REQUIRED_QUERY:
            raise AuthError("AuthorizationQueryParametersError", f"{name} must be given only once.")
        query[name] = value
    if any(name not in query for name in _REQUIRED_QUERY):
        raise AuthError("AuthorizationQueryParametersError", _QUERY_REQUIRED)
    algorithm = query["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        if algorithm == "AWS4-ECDSA-P256-SHA256":
            raise AuthError("InvalidRequest", _SIGV4A)
        raise AuthError(
            "AuthorizationQueryParametersError", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
        )
    malformed = _Malformed(True)
    access_key, scope, region = _split_credential(query["X-Amz-Credential"], malformed)
    amz_date = query["X-Amz-Date"]
    if parse_amz_date(amz_date) is None:
        raise AuthError(
            "AuthorizationQueryParametersError",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    expires = _parse_expires(query["X-Amz-Expires"])
    signed = _split_signed_headers(query["X-Amz-SignedHeaders"], malformed)
    # Presigned URLs sign UNSIGNED-PAYLOAD unless the client chose to sign a payload hash.
    if CONTENT_SHA256 in signed and CONTENT_SHA256 in headers:
        payload = headers[CONTENT_SHA256]
    else:
        payload = query.get(
            "X-Amz-Content-Sha256", query.get("X-Amz-Content-SHA256", UNSIGNED_PAYLOAD)
        )
    classify_payload_hash(payload)
    return ParsedAuth(
        access_key,
        signed,
        query["X-Amz-Signature"],
        amz_date,
        scope,
        region,
        True,
        payload,
        expires,
    )


def _parse_expires(value: str) -> int:
    if not value.lstrip("-").isdigit() or not value.isascii():
        raise AuthError("AuthorizationQueryParametersError", "X-Amz-Expires should be a number")
    expires = int(value)
    if expires < 1:
        raise AuthError(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be a positive number of seconds",
        )
    if expires > MAX_PRESIGN_EXPIRES:
        raise AuthError(
            "AuthorizationQueryParametersError",
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}",
        )
    return expires


def _split_credential(value: str, malformed: _Malformed) -> tuple[str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts) or not _SCOPE_DATE.fullmatch(parts[1]):
        raise malformed(_BAD_CREDENTIAL)
    return parts[0], "/".join(parts[1:]), parts[2]


def _split_signed_headers(value: str, malformed: _Malformed) -> tuple[str, ...]:
    names = tuple(value.lower().split(";"))
    if not all(_HEADER_NAME.fullmatch(name) for name in names) or len(set(names)) != len(names):
        raise malformed(f"the SignedHeaders value {value[:256]!r} is not a list of header names.")
    return names


def _header_date(headers: Mapping[str, str]) -> str:
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        if parse_amz_date(amz_date) is None:
            raise AuthError("AccessDenied", _NO_DATE)
        return amz_date
    date = headers.get("date")
    if date is not None:
        parsed = parse_amz_date(date)
        if parsed is None:
            try:
                parsed = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                parsed = None
        if parsed is not None:
            # "-0000" (what Python's formatdate and so botocore send) parses as naive: it is UTC.
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC).strftime(AMZ_DATE_FORMAT)
    raise AuthError("AccessDenied", _NO_DATE)


def _check_time(parsed: ParsedAuth, now: datetime) -> None:
    signed_at = parse_amz_date(parsed.amz_date)
    if signed_at is None:  # parse_auth guarantees the format; a hand-built ParsedAuth may not
        raise AuthError("AccessDenied", _NO_DATE)
    if parsed.presigned:
        if signed_at - now > MAX_SKEW:
            raise AuthError("AccessDenied", "Request is not valid yet")
        expires_at = signed_at + timedelta(seconds=parsed.expires or 0)
        if now > expires_at:
            raise AuthError(
                "AccessDenied",
                "Request has expired",
                {
                    "X-Amz-Expires": str(parsed.expires),
                    "Expires": _iso(expires_at),
                    "ServerTime": _iso(now),
                },
            )
    elif abs(now - signed_at) > MAX_SKEW:
        raise AuthError(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            {
                "RequestTime": parsed.amz_date,
                "ServerTime": _iso(now),
                "MaxAllowedSkewMilliseconds": str(int(MAX_SKEW.total_seconds() * 1000)),
            },
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
