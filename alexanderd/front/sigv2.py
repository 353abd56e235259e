"""AWS Signature Version 2 (HMAC-SHA1), header and presigned query forms.

Deprecated by AWS but still accepted by S3 in its oldest regions, and what boto3's
generate_presigned_url produces by default for a custom us-east-1 endpoint, so links made
by unchanged clients must work. Pure functions, like sigv4: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from alexanderd.front.authtypes import AuthError
from alexanderd.front.sigv4 import AuthRequest

MAX_SKEW = 15 * 60
# The query parameters that are part of the signed resource: botocore's list (the
# reference signer), a superset of the one in AWS's SigV2 documentation.
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    }
)


@dataclass(frozen=True)
class ParsedV2:
    access_key_id: str
    signature: str
    presigned: bool
    expires: int | None = None


def parse_v2(req: AuthRequest) -> ParsedV2 | None:
    """The SigV2 credentials of a request, or None when it carries no SigV2 auth."""
    auth = req.headers.get("authorization")
    if auth is not None:
        if not auth.startswith("AWS "):
            return None
        access_key, sep, signature = auth[4:].strip().rpartition(":")
        if not sep or not access_key or not signature:
            raise AuthError("InvalidArgument", "Authorization header is invalid -- one and only "
                            "one ' ' (space) required")  # fmt: skip
        return ParsedV2(access_key, signature, presigned=False)
    params = dict(parse_qsl(req.query_string.decode("latin-1"), keep_blank_values=True))
    if "AWSAccessKeyId" not in params or "Signature" not in params:
        return None
    expires = params.get("Expires", "")
    if not expires.isdigit():
        raise AuthError("AccessDenied", "Query-string authentication requires the Signature, "
                        "Expires and AWSAccessKeyId parameters")  # fmt: skip
    return ParsedV2(params["AWSAccessKeyId"], params["Signature"], True, int(expires))


def canonical_resource(req: AuthRequest, vhost_bucket: str | None) -> str:
    path = req.raw_path.decode("latin-1")
    resource = f"/{vhost_bucket}{path}" if vhost_bucket else path
    subs = []
    for pair in req.query_string.decode("latin-1").split("&"):
        name, eq, _ = pair.partition("=")
        if name in SUBRESOURCES:
            subs.append((name, parse_qsl(pair, keep_blank_values=True)[0][1] if eq else None))
    if subs:
        subs.sort()
        resource += "?" + "&".join(n if v is None else f"{n}={v}" for n, v in subs)
    return resource


def string_to_sign(req: AuthRequest, parsed: ParsedV2, vhost_bucket: str | None) -> str:
    h = req.headers
    # Values are trimmed, not collapsed inside: only header folding becomes one space.
    amz = sorted((n, v.strip()) for n, v in h.items() if n.startswith("x-amz-"))
    if parsed.presigned:
        date = str(parsed.expires)
    else:
        # With x-amz-date present the Date position is empty (x-amz-date is signed below).
        date = "" if "x-amz-date" in h else h.get("date", "")
    return (
        f"{req.method}\n{h.get('content-md5', '')}\n{h.get('content-type', '')}\n{date}\n"
        + "".join(f"{n}:{v}\n" for n, v in amz)
        + canonical_resource(req, vhost_bucket)
    )


def _request_time(req: AuthRequest) -> float | None:
    value = req.headers.get("x-amz-date") or req.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def verify_v2(
    req: AuthRequest,
    parsed: ParsedV2,
    secret: str,
    vhost_bucket: str | None,
    now: float | None = None,
) -> None:
    now = time.time() if now is None else now
    if parsed.presigned:
        assert parsed.expires is not None
        if parsed.expires < now:
            raise AuthError("AccessDenied", "Request has expired")
    else:
        when = _request_time(req)
        if when is None:
            raise AuthError("AccessDenied", "AWS authentication requires a valid Date or "
                            "x-amz-date header")  # fmt: skip
        if abs(now - when) > MAX_SKEW:
            raise AuthError("RequestTimeTooSkewed", "The difference between the request time "
                            "and the current time is too large.")  # fmt: skip
    to_sign = string_to_sign(req, parsed, vhost_bucket)
    digest = hmac.new(secret.encode(), to_sign.encode("latin-1", "replace"), hashlib.sha1)
    expected = base64.b64encode(digest.digest()).decode()
    if not hmac.compare_digest(expected, parsed.signature):
        raise AuthError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            {"StringToSign": to_sign},
        )
