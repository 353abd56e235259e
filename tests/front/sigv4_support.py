"""Shared credentials, signers and helpers of the SigV4 tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import settings

from alexanderd.front.sigv4 import (
    AuthError,
    AuthRequest,
    SigningContext,
    auth_request_from_asgi,
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


def captured_client(
    access_key: str = AK, secret: str = SECRET, region: str = REGION, endpoint: str = ENDPOINT
) -> tuple[Any, list[AWSRequest]]:
    """A real boto3 S3 client (path style) whose requests are kept, fully signed, in the list
    instead of reaching the network; every one gets an empty 200."""
    sent: list[AWSRequest] = []

    def before_send(request: AWSRequest, **_: Any) -> AWSResponse:
        sent.append(request)

        class _Raw:
            def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
                yield b""

        return AWSResponse(request.url, 200, {}, _Raw())

    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret, region_name=region
    )
    client = session.client(
        "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
    )
    client.meta.events.register("before-send", before_send)
    return client, sent
