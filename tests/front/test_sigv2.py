"""SigV2 verification against botocore's own SigV2 signers (header and presigned query)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from alexanderd.front.authtypes import AuthError
from alexanderd.front.sigv2 import parse_v2, verify_v2
from alexanderd.front.sigv4 import AuthRequest

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def as_auth_request(prepared: AWSRequest) -> AuthRequest:
    parts = urlsplit(prepared.url)
    headers = {k.lower(): str(v) for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)
    return AuthRequest(prepared.method, parts.path.encode(), parts.query.encode(), headers)


@pytest.mark.parametrize(
    "path,query",
    [
        ("/bucket/key", ""),
        ("/bucket/dir/a%20b%2Bc", ""),
        ("/bucket/key", "versionId=abc&acl"),
        ("/bucket/key", "uploadId=xyz&partNumber=3"),
        ("/bucket/key", "response-content-type=text%2Fplain&foo=bar"),
        ("/bucket", "delete"),
    ],
)
def test_header_auth_matches_botocore(path: str, query: str) -> None:
    url = f"http://127.0.0.1:9000{path}" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="PUT",
        url=url,
        data=b"x",
        headers={"Content-Type": "text/plain", "x-amz-meta-a": "1  2"},
    )
    HmacV1Auth(CREDS).add_auth(request)
    view = as_auth_request(request)
    parsed = parse_v2(view)
    assert parsed is not None and not parsed.presigned
    verify_v2(view, parsed, CREDS.secret_key, None)
    with pytest.raises(AuthError) as exc:
        verify_v2(view, parsed, "wrong-secret", None)
    assert exc.value.code == "SignatureDoesNotMatch"


def test_presigned_query_matches_botocore_and_expires() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket/some%20key")
    HmacV1QueryAuth(CREDS, expires=60).add_auth(request)
    view = as_auth_request(request)
    parsed = parse_v2(view)
    assert parsed is not None and parsed.presigned
    verify_v2(view, parsed, CREDS.secret_key, None)
    with pytest.raises(AuthError) as exc:
        verify_v2(view, parsed, CREDS.secret_key, None, now=time.time() + 120)
    assert exc.value.code == "AccessDenied"


def test_virtual_host_resource_includes_the_bucket() -> None:
    request = AWSRequest(method="GET", url="http://photos.s3.test:9000/puppy.jpg")
    HmacV1Auth(CREDS).add_auth(request)
    view = as_auth_request(request)
    parsed = parse_v2(view)
    assert parsed is not None
    # botocore signs the path as sent; AWS's rule adds the bucket for virtual-host requests,
    # so the same request verifies only when addressed path-style here.
    verify_v2(view, parsed, CREDS.secret_key, None)
    with pytest.raises(AuthError):
        verify_v2(view, parsed, CREDS.secret_key, "photos")


def test_skew_and_malformed() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/b/k")
    HmacV1Auth(CREDS).add_auth(request)
    view = as_auth_request(request)
    parsed = parse_v2(view)
    assert parsed is not None
    with pytest.raises(AuthError) as exc:
        verify_v2(view, parsed, CREDS.secret_key, None, now=time.time() + 3600)
    assert exc.value.code == "RequestTimeTooSkewed"
    bad = AuthRequest("GET", b"/b/k", b"", {"authorization": "AWS nocolon", "host": "h"})
    with pytest.raises(AuthError):
        parse_v2(bad)
    assert parse_v2(AuthRequest("GET", b"/", b"", {"host": "h"})) is None
