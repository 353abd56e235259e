"""SigV4 requests that must be refused, each with the AWS error code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from alexanderd.front.sigv4 import (
    AuthError,
    AuthRequest,
    ParsedAuth,
    parse_auth,
    verify,
)
from tests.front.sigv4_support import (
    AK,
    ENDPOINT,
    REGION,
    SECRET,
    check,
    presign,
    rejected,
    sign,
    wire_request,
    with_headers,
)

# --- rejections -----------------------------------------------------------------------------


def test_wrong_secret_reports_what_was_signed() -> None:
    error = rejected(sign("GET", "/bkt/k"), secret="other")
    assert error.code == "SignatureDoesNotMatch"
    assert error.details["CanonicalRequest"].startswith("GET\n/bkt/k\n\n")
    assert error.details["StringToSign"].startswith("AWS4-HMAC-SHA256\n")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: with_headers(r, range="bytes=0-99"),
        lambda r: with_headers(r, x_amz_meta_a="2"),
        lambda r: AuthRequest("DELETE", r.raw_path, r.query_string, r.headers),
        lambda r: AuthRequest(r.method, r.raw_path + b"x", r.query_string, r.headers),
        lambda r: AuthRequest(r.method, r.raw_path, r.query_string + b"&versionId=1", r.headers),
    ],
)
def test_tampered_request_is_rejected(tamper: Any) -> None:
    req = sign("GET", "/bkt/k?tagging", {"Range": "bytes=0-9", "x-amz-meta-a": "1"})
    check(req)
    assert rejected(tamper(req)).code == "SignatureDoesNotMatch"


def test_unsigned_amz_header_is_rejected() -> None:
    req = with_headers(sign("PUT", "/bkt/k", body=b"x"), x_amz_acl="public-read")
    error = rejected(req)
    assert (error.code, error.details["HeadersNotSigned"]) == ("AccessDenied", "x-amz-acl")
    req = with_headers(presign("GET", "/bkt/k"), x_amz_meta_x="1")
    assert rejected(req).code == "AccessDenied"
    # A presigned URL does not sign the payload hash header; sending one is allowed.
    check(with_headers(presign("GET", "/bkt/k"), x_amz_content_sha256="UNSIGNED-PAYLOAD"))


def test_clock_skew() -> None:
    req = sign("GET", "/bkt/k")
    now = datetime.now(UTC)
    check(req, now + timedelta(minutes=14))
    check(req, now - timedelta(minutes=14))
    for shift in (timedelta(minutes=16), -timedelta(minutes=16)):
        assert rejected(req, now + shift).code == "RequestTimeTooSkewed"


def test_presigned_expiry_rules() -> None:
    now = datetime.now(UTC)
    req = presign("GET", "/bkt/k", expires=60)
    check(req, now + timedelta(seconds=30))
    error = rejected(req, now + timedelta(seconds=120))
    assert (error.code, error.message) == ("AccessDenied", "Request has expired")
    future = rejected(req, now - timedelta(minutes=20))
    assert future.code == "AccessDenied"
    check(presign("GET", "/bkt/k", expires=604800))
    for bad in (604801, 0):
        error = rejected(presign("GET", "/bkt/k", expires=bad))
        assert error.code == "AuthorizationQueryParametersError"


def replace_in_auth(req: AuthRequest, old: str, new: str) -> AuthRequest:
    if "authorization" in req.headers:
        assert old in req.headers["authorization"]
        return with_headers(req, authorization=req.headers["authorization"].replace(old, new))
    query = req.query_string.decode()
    old, new = old.replace("/", "%2F"), new.replace("/", "%2F")
    assert old in query
    return AuthRequest(req.method, req.raw_path, query.replace(old, new).encode(), req.headers)


@pytest.mark.parametrize("presigned", [False, True])
@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (f"/{REGION}/", "/us-east-1/", f"expecting '{REGION}'"),
        ("/s3/", "/ec2/", 'incorrect service "ec2"'),
        ("aws4_request", "aws5_request", 'incorrect terminal "aws5_request"'),
        ("host", "hostx", "must include host"),
    ],
)
def test_scope_and_signed_header_rules(presigned: bool, old: str, new: str, fragment: str) -> None:
    req = presign("GET", "/bkt/k") if presigned else sign("GET", "/bkt/k")
    error = rejected(replace_in_auth(req, old, new))
    expected = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
    assert error.code == expected and fragment in error.message
    if old.startswith(f"/{REGION}"):
        assert error.details["Region"] == REGION


def test_credential_date_must_match_request_date() -> None:
    req = sign("GET", "/bkt/k")
    day = parse_auth(req).amz_date[:8]  # type: ignore[union-attr]
    error = rejected(replace_in_auth(req, f"/{day}/", "/20000101/"))
    assert (
        error.code == "AuthorizationHeaderMalformed" and "Invalid credential date" in error.message
    )


def test_anonymous_request_has_no_credentials() -> None:
    assert parse_auth(AuthRequest("GET", b"/bkt/k", b"prefix=a", {"host": "h"})) is None


def test_sigv2_is_refused_with_a_clear_error() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/bkt/k", headers={})
    HmacV1Auth(Credentials(AK, SECRET)).add_auth(request)
    req = wire_request(request)
    assert req.headers["authorization"].startswith("AWS ")
    with pytest.raises(AuthError, match="Please use AWS4-HMAC-SHA256") as info:
        parse_auth(req)
    assert info.value.code == "InvalidRequest"
    request = AWSRequest(method="GET", url=ENDPOINT + "/bkt/k", headers={})
    HmacV1QueryAuth(Credentials(AK, SECRET), expires=60).add_auth(request)
    request.prepare()
    with pytest.raises(AuthError, match="Please use AWS4-HMAC-SHA256"):
        parse_auth(wire_request(request))


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("Bearer abc", "InvalidArgument"),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "InvalidRequest"),
        (
            f"AWS4-HMAC-SHA256 Credential={AK}/20260101/r/s3/aws4_request",
            "AuthorizationHeaderMalformed",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={AK}/20260101/r/s3/aws4_request, SignedHeaders=Host;;x, "
            "Signature=00",
            "AuthorizationHeaderMalformed",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential={AK}/20260101/r/s3/aws4_request, SignedHeaders=host, "
            "Signature=00, Signature=01",
            "AuthorizationHeaderMalformed",
        ),
    ],
)
def test_malformed_authorization_header(authorization: str, code: str) -> None:
    req = with_headers(sign("GET", "/bkt/k"), authorization=authorization)
    with pytest.raises(AuthError) as info:
        parse_auth(req)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"x_amz_content_sha256": "abc"}, "InvalidArgument"),
        ({"x_amz_content_sha256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"}, "NotImplemented"),
        ({"x_amz_date": None}, "AccessDenied"),
        ({"x_amz_date": "2026-11-28T20:00:00Z"}, "AccessDenied"),
    ],
)
def test_required_headers(changes: dict[str, str | None], code: str) -> None:
    with pytest.raises(AuthError) as info:
        parse_auth(with_headers(sign("GET", "/bkt/k"), **changes))
    assert info.value.code == code


def test_header_and_query_auth_together_is_refused() -> None:
    req = sign("GET", "/bkt/k?X-Amz-Signature=00")
    with pytest.raises(AuthError, match="Only one auth mechanism") as info:
        parse_auth(req)
    assert info.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("X-Amz-Date=", "X-Amz-Nope=", "requires the X-Amz-Algorithm"),
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", "only supports"),
        ("X-Amz-Expires=3600", "X-Amz-Expires=soon", "should be a number"),
        ("X-Amz-Expires=3600", "X-Amz-Expires=-5", "positive"),
        ("X-Amz-Credential=", "X-Amz-Credential=x%2F", "Credential is mal-formed"),
        ("X-Amz-Date=2", "X-Amz-Date=x2", "ISO8601"),
        ("X-Amz-Expires=3600", "X-Amz-Expires=3600&X-Amz-Expires=3600", "only once"),
    ],
)
def test_malformed_presigned_query(old: str, new: str, fragment: str) -> None:
    req = replace_in_auth(presign("GET", "/bkt/k"), old, new)
    with pytest.raises(AuthError, match=fragment) as info:
        parse_auth(req)
    assert info.value.code == "AuthorizationQueryParametersError"


def test_parsed_auth_fields() -> None:
    req = sign("PUT", "/bkt/k", {"Content-Type": "a/b"}, b"body")
    parsed = parse_auth(req)
    assert isinstance(parsed, ParsedAuth)
    assert parsed.region == REGION and not parsed.presigned and parsed.expires is None
    assert parsed.scope == f"{parsed.amz_date[:8]}/{REGION}/s3/aws4_request"
    assert "host" in parsed.signed_headers and "content-type" in parsed.signed_headers
    assert len(parsed.payload_hash) == 64


def test_missing_payload_hash_verifies_as_old_curl_signs_it() -> None:
    """curl 7.x sends no x-amz-content-sha256 and signs the empty-body hash: accepted, with
    the body treated as unsigned (AWS itself refuses such requests)."""
    req = AuthRequest(
        "PUT",
        b"/bucket/key2",
        b"",
        {"host": "127.0.0.1:18777", "x-amz-date": "20261129T004703Z", "authorization": (
            "AWS4-HMAC-SHA256 Credential=AK/20261129/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=1bfa1e947330edfe94e08c1137433e65bfe66398d6f2ec40d90c94eedef0adc5"
        )},
    )  # fmt: skip
    parsed = parse_auth(req)
    assert parsed is not None and parsed.body_unsigned
    verify(req, parsed, "SK", datetime(2026, 11, 29, 0, 47, 3, tzinfo=UTC), "us-east-1")
