"""Virtual-host-style requests (`Host: bucket.s3.test:port`) against the shared daemons (configured
with `server.domain: s3.test`), over http and https, mixed with path-style requests.

The test machine has no DNS for s3.test, so requests go to 127.0.0.1 with the Host header set:
signed both by botocore's own S3SigV4Auth (what every boto3 user sends) and by our raw signer.
"""

from __future__ import annotations

import hashlib
import os
from xml.etree import ElementTree

import pytest
from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials as BotoCredentials  # type: ignore[import-untyped]

from tests.e2e.clients_endpoint import SCHEMES, VHOST_DOMAIN, Endpoint, shared_endpoint
from tests.e2e.clients_sigv4 import RawClient, RawResponse, object_path, uri_encode

DOMAIN = VHOST_DOMAIN
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def raw(ep: Endpoint) -> RawClient:
    return ep.raw()


def vhost(ep: Endpoint, bucket: str) -> str:
    return f"{bucket}.{DOMAIN}:{ep.port}"


def key_path(key: str) -> str:
    return "/" + uri_encode(key, keep_slash=True)


def botocore_request(
    ep: Endpoint, method: str, bucket: str, key: str, body: bytes = b""
) -> RawResponse:
    """Signed by botocore for <scheme>://bucket.s3.test:port/key, sent to the daemon's address."""
    host = vhost(ep, bucket)
    scheme = "https" if ep.https else "http"
    request = AWSRequest(method=method, url=f"{scheme}://{host}{key_path(key)}", data=body)
    S3SigV4Auth(BotoCredentials(ep.access_key, ep.secret_key), "s3", "us-east-1").add_auth(request)
    conn = ep.raw().connection()
    try:
        conn.putrequest(method, key_path(key), skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in request.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def test_botocore_signed_vhost_put_get(ep: Endpoint, raw: RawClient) -> None:
    bucket = f"vh-{os.urandom(4).hex()}"
    assert raw.request("PUT", "/", host=vhost(ep, bucket)).status == 200
    data = os.urandom(100_000)
    put = botocore_request(ep, "PUT", bucket, "dir/a file+1.bin", data)
    assert put.status == 200, put.body
    assert put.header("etag") == f'"{hashlib.md5(data).hexdigest()}"'
    got = botocore_request(ep, "GET", bucket, "dir/a file+1.bin")
    assert (got.status, got.body) == (200, data)
    # The same object by path style, through the plain endpoint.
    assert raw.request("GET", object_path(bucket, "dir/a file+1.bin")).body == data
    assert botocore_request(ep, "DELETE", bucket, "dir/a file+1.bin").status == 204
    gone = botocore_request(ep, "GET", bucket, "dir/a file+1.bin")
    assert (gone.status, gone.code()) == (404, "NoSuchKey")


def test_vhost_listing_and_head(ep: Endpoint, raw: RawClient) -> None:
    bucket = f"vl-{os.urandom(4).hex()}"
    assert raw.request("PUT", object_path(bucket)).status == 200
    for key in ("a/1", "a/2", "b", "ü/3"):
        assert raw.request("PUT", object_path(bucket, key), key.encode()).status == 200
    host = vhost(ep, bucket)
    listing = raw.request("GET", "/", query=[("list-type", "2"), ("delimiter", "/")], host=host)
    assert listing.status == 200, listing.body
    root = ElementTree.fromstring(listing.body)
    assert root.findtext(f"{S3_NS}Name") == bucket
    assert [c.findtext(f"{S3_NS}Key") for c in root.findall(f"{S3_NS}Contents")] == ["b"]
    prefixes = [p.findtext(f"{S3_NS}Prefix") for p in root.findall(f"{S3_NS}CommonPrefixes")]
    assert prefixes == ["a/", "ü/"]
    head = raw.request("HEAD", key_path("ü/3"), host=host)
    assert (head.status, head.header("content-length"), head.body) == (200, "4", b"")
    assert raw.request("HEAD", "/", host=host).status == 200


def test_dotted_bucket_and_bare_domain(ep: Endpoint, raw: RawClient) -> None:
    bucket = f"dot.{os.urandom(4).hex()}.name"
    host = vhost(ep, bucket)
    assert raw.request("PUT", "/", host=host).status == 200
    assert raw.request("PUT", key_path("k"), b"dotted", host=host).status == 200
    # Host equal to the domain itself is path style.
    bare = f"{DOMAIN}:{ep.port}"
    got = raw.request("GET", object_path(bucket, "k"), host=bare)
    assert (got.status, got.body) == (200, b"dotted")
    # A Host without the port names the same bucket.
    no_port = raw.request("GET", key_path("k"), host=f"{bucket}.{DOMAIN}")
    assert (no_port.status, no_port.body) == (200, b"dotted")


def test_vhost_missing_bucket(ep: Endpoint, raw: RawClient) -> None:
    host = vhost(ep, f"nobucket-{os.urandom(4).hex()}")
    missing = raw.request("GET", key_path("k"), host=host)
    assert (missing.status, missing.code()) == (404, "NoSuchBucket")
    listing = raw.request("GET", "/", query=[("list-type", "2")], host=host)
    assert (listing.status, listing.code()) == (404, "NoSuchBucket")
