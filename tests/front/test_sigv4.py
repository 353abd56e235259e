"""SigV4 verification against requests signed by real clients (botocore, boto3, awscrt) and AWS's
documented examples, plus every rejection rule."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from awscrt import auth as crt_auth
from awscrt import http as crt_http
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from alexanderd.front.authtypes import EMPTY_SHA256
from alexanderd.front.sigv4 import (
    AuthError,
    AuthRequest,
    ParsedAuth,
    SigningContext,
    auth_request_from_asgi,
    canonical_uri,
    derive_signing_key,
    parse_auth,
    verify,
)

AK = "AKIDEXAMPLE0000001"
SECRET = "s3cr3t/Key+With=Symbols"
REGION = "eu-west-3"
ENDPOINT = "https://s3.example.test:9000"
PROPERTY = settings(deadline=None, derandomize=True, max_examples=60)

WEIRD_KEYS = [
    "plain.txt",
    "with space and  two",
    "plus+sign",
    "percent%41literal%",
    "tilde~ok",
    "bang!quote'paren(x)star*",
    "/leading-slash",
    "double//slash/",
    "../dots/./x",
    "unicode ключ/文件 é.txt",
    "semi;colon,comma=eq&amp?q#hash",
    "a@b$c:d[e]f{g}h|i^j`k",
]


def wire_request(signed: AWSRequest, extra_headers: dict[str, str] | None = None) -> AuthRequest:
    """What the front would see for a botocore-signed request: bytes on the wire, then ASGI."""
    url = urlsplit(signed.url)
    headers: list[tuple[bytes, bytes]] = []
    if "host" not in signed.headers:  # the HTTP client adds it from the URL
        headers.append((b"host", url.netloc.encode("ascii")))
    for name, value in signed.headers.items():
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        headers.append((name.lower().encode("latin-1"), raw))
    for name, value in (extra_headers or {}).items():
        headers.append((name.encode("latin-1"), value.encode("utf-8")))
    return auth_request_from_asgi(
        signed.method or "GET", url.path.encode("ascii"), url.query.encode("ascii"), headers
    )


def sign(
    method: str,
    path_and_query: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    secret: str = SECRET,
    region: str = REGION,
) -> AuthRequest:
    request = AWSRequest(
        method=method, url=ENDPOINT + path_and_query, headers=headers or {}, data=body
    )
    S3SigV4Auth(Credentials(AK, secret), "s3", region).add_auth(request)
    return wire_request(request)


def presign(method: str, path_and_query: str, expires: int = 3600, **headers: str) -> AuthRequest:
    request = AWSRequest(method=method, url=ENDPOINT + path_and_query, headers=headers)
    S3SigV4QueryAuth(Credentials(AK, SECRET), "s3", REGION, expires=expires).add_auth(request)
    return wire_request(request)


def check(req: AuthRequest, now: datetime | None = None, secret: str = SECRET) -> SigningContext:
    parsed = parse_auth(req)
    assert parsed is not None
    assert parsed.access_key_id == AK
    return verify(req, parsed, secret, now or datetime.now(UTC), REGION)


def rejected(req: AuthRequest, now: datetime | None = None, secret: str = SECRET) -> AuthError:
    with pytest.raises(AuthError) as info:
        check(req, now, secret)
    return info.value


def with_headers(req: AuthRequest, **changes: str | None) -> AuthRequest:
    headers = dict(req.headers)
    for attr, value in changes.items():
        name = attr.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return AuthRequest(req.method, req.raw_path, req.query_string, headers)


def object_path(key: str, bucket: str = "bkt") -> str:
    # botocore's serializer encodes keys this way: everything but unreserved characters and '/'.
    return f"/{bucket}/{quote(key, safe='/~')}"


# --- requests signed by botocore ---------------------------------------------------------------


@pytest.mark.parametrize("key", WEIRD_KEYS)
def test_header_auth_weird_keys(key: str) -> None:
    body = b"payload bytes"
    req = sign("PUT", object_path(key), {"Content-Type": "text/plain"}, body)
    ctx = check(req)
    assert ctx.scope.endswith(f"/{REGION}/s3/aws4_request")
    assert ctx.seed_signature == parse_auth(req).signature  # type: ignore[union-attr]


@pytest.mark.parametrize("key", WEIRD_KEYS)
def test_presigned_weird_keys(key: str) -> None:
    req = presign("GET", object_path(key))
    parsed = parse_auth(req)
    assert parsed is not None and parsed.presigned
    assert parsed.payload_hash == "UNSIGNED-PAYLOAD"
    check(req)


@PROPERTY
@given(key=st.text(min_size=1, max_size=60), value=st.text(max_size=30))
def test_any_key_and_query_value_verifies(key: str, value: str) -> None:
    query = "?" + "&".join(
        f"{quote(name, safe='-_.~')}={quote(val, safe='-_.~')}"
        for name, val in sorted({"prefix": value, "x-id": "GetObject", "empty": ""}.items())
    )
    check(sign("GET", object_path(key) + query))
    check(presign("GET", object_path(key) + query))


def test_query_params_empty_values_unicode_and_bare_names() -> None:
    check(sign("GET", "/bkt?acl"))
    check(sign("GET", "/bkt?list-type=2&prefix=%C3%A9%20x%2B&delimiter=%2F&start-after="))
    check(presign("GET", "/bkt?uploads&prefix=caf%C3%A9"))


def test_characters_sent_unencoded_canonicalize_like_encoded() -> None:
    encoded = sign("GET", "/bkt/a%21b%27c%28d%29e%2Af")
    raw = AuthRequest(encoded.method, b"/bkt/a!b'c(d)e*f", encoded.query_string, encoded.headers)
    check(raw)
    assert canonical_uri(b"/bkt/%7Etilde") == canonical_uri(b"/bkt/~tilde") == "/bkt/~tilde"
    assert canonical_uri(b"/bkt/a%2Fb//c") == "/bkt/a%2Fb//c"  # an encoded '/' stays encoded
    assert canonical_uri(b"/bkt/%c3%a9") == "/bkt/%C3%A9"
    assert canonical_uri(b"") == "/"


def test_header_values_are_trimmed_and_utf8_bytes_survive() -> None:
    req = sign(
        "PUT",
        "/bkt/k",
        {"x-amz-meta-spaces": "  a   b \t c  ", "x-amz-meta-text": "à la carte ☃"},
        b"x",
    )
    check(req)


def test_repeated_headers_are_joined_with_commas() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/bkt/k")
    request.headers.add_header("x-amz-meta-multi", "one")
    request.headers.add_header("x-amz-meta-multi", "two")
    S3SigV4Auth(Credentials(AK, SECRET), "s3", REGION).add_auth(request)
    req = wire_request(request)
    assert req.headers["x-amz-meta-multi"] == "one,two"
    check(req)


def test_date_header_instead_of_x_amz_date() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/bkt/k", headers={"Date": "placeholder"})
    S3SigV4Auth(Credentials(AK, SECRET), "s3", REGION).add_auth(request)
    req = wire_request(request)
    assert "x-amz-date" not in req.headers and req.headers["date"].endswith("-0000")
    check(req)


def test_awscrt_signer_agrees() -> None:
    when = datetime(2026, 11, 28, 20, 0, 0, tzinfo=UTC)
    request = crt_http.HttpRequest(
        "PUT",
        "/bkt/caf%C3%A9%20au%20lait?tagging=&x-id=PutObjectTagging",
        crt_http.HttpHeaders([("host", "s3.example.test"), ("x-amz-meta-a", " b  c ")]),
    )
    config = crt_auth.AwsSigningConfig(
        credentials_provider=crt_auth.AwsCredentialsProvider.new_static(AK, SECRET),
        region=REGION,
        service="s3",
        date=when,
        use_double_uri_encode=False,
        should_normalize_uri_path=False,
        signed_body_value=crt_auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,
        signed_body_header_type=crt_auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
    )
    signed = crt_auth.aws_sign_request(request, config).result()
    path, _, query = signed.path.partition("?")
    headers = [(name.encode(), value.encode()) for name, value in signed.headers]
    req = auth_request_from_asgi("PUT", path.encode(), query.encode(), headers)
    check(req, now=when + timedelta(minutes=3))


# --- the real boto3 client, captured before it reaches the network --------------------------


@pytest.fixture
def captured() -> Iterator[tuple[Any, list[AWSRequest]]]:
    sent: list[AWSRequest] = []

    def before_send(request: AWSRequest, **_: Any) -> AWSResponse:
        sent.append(request)

        class _Raw:
            def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
                yield b""

        return AWSResponse(request.url, 200, {}, _Raw())

    session = boto3.session.Session(
        aws_access_key_id=AK, aws_secret_access_key=SECRET, region_name=REGION
    )
    client = session.client(
        "s3", endpoint_url=ENDPOINT, config=Config(s3={"addressing_style": "path"})
    )
    client.meta.events.register("before-send", before_send)
    yield client, sent


def test_boto3_operations_verify(captured: tuple[Any, list[AWSRequest]]) -> None:
    client, sent = captured
    client.put_object(Bucket="bkt", Key="dir/naïve (1)+2!.txt", Body=io.BytesIO(b"hi"))
    client.list_objects_v2(Bucket="bkt", Prefix="é x+", Delimiter="/", StartAfter="")
    client.get_object(Bucket="bkt", Key="//x", Range="bytes=0-9")
    client.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a"}]})
    client.head_bucket(Bucket="bkt")
    assert len(sent) == 5
    for request in sent:
        check(wire_request(request))


def test_boto3_presigned_urls_verify(captured: tuple[Any, list[AWSRequest]]) -> None:
    client, _ = captured
    url = client.generate_presigned_url(
        "put_object",
        Params={"Bucket": "bkt", "Key": "a b/ü+!", "Metadata": {"k": "v"}},
        ExpiresIn=600,
    )
    parts = urlsplit(url)
    headers = {"host": parts.netloc, "x-amz-meta-k": "v"}
    req = AuthRequest("PUT", parts.path.encode(), parts.query.encode(), headers)
    check(req)
    # The signed metadata header must be sent with the value that was signed.
    assert rejected(with_headers(req, x_amz_meta_k="w")).code == "SignatureDoesNotMatch"


# --- AWS's documented examples ----------------------------------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_NOW = datetime(2013, 5, 24, 0, 5, tzinfo=UTC)
AWS_CRED = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def test_aws_example_get_object_with_range() -> None:
    req = AuthRequest(
        "GET",
        b"/test.txt",
        b"",
        {
            "host": "examplebucket.s3.amazonaws.com",
            "range": "bytes=0-9",
            "x-amz-date": "20130524T000000Z",
            "x-amz-content-sha256": EMPTY_SHA256,
            "authorization": f"AWS4-HMAC-SHA256 Credential={AWS_CRED},SignedHeaders=host;range;"
            "x-amz-content-sha256;x-amz-date,Signature="
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        },
    )
    parsed = parse_auth(req)
    assert parsed is not None
    verify(req, parsed, AWS_SECRET, AWS_NOW, "us-east-1")


def test_aws_example_presigned_get() -> None:
    query = (
        b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
        b"us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
        b"X-Amz-SignedHeaders=host&X-Amz-Signature="
        b"aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    req = AuthRequest("GET", b"/test.txt", query, {"host": "examplebucket.s3.amazonaws.com"})
    parsed = parse_auth(req)
    assert parsed is not None and parsed.expires == 86400
    verify(req, parsed, AWS_SECRET, AWS_NOW, "us-east-1")
    with pytest.raises(AuthError, match="Request has expired"):
        verify(req, parsed, AWS_SECRET, AWS_NOW + timedelta(days=1), "us-east-1")


def test_aws_example_signing_key() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # that page's secret has a '+'
    key = derive_signing_key(secret, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


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
        ({"x_amz_content_sha256": None}, "InvalidRequest"),
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
