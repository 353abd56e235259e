"""SigV4 verification against requests signed by real clients (botocore, boto3, awscrt) and
AWS's documented examples."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from awscrt import auth as crt_auth
from awscrt import http as crt_http
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from alexanderd.front.authtypes import EMPTY_SHA256
from alexanderd.front.sigv4 import (
    AuthError,
    AuthRequest,
    auth_request_from_asgi,
    canonical_uri,
    derive_signing_key,
    parse_auth,
    verify,
)
from tests.front.sigv4_support import (
    AK,
    ENDPOINT,
    PROPERTY,
    REGION,
    SECRET,
    WEIRD_KEYS,
    captured_client,
    check,
    object_path,
    presign,
    rejected,
    sign,
    wire_request,
    with_headers,
)

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
def captured() -> tuple[Any, list[AWSRequest]]:
    return captured_client()


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
