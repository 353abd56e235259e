"""Anonymous (unsigned) requests: allowed only where a bucket's canned ACL grants AllUsers READ.

The bucket is made public both ways clients do it: `x-amz-acl: public-read` on CreateBucket and
PutBucketAcl afterwards. Raw http.client, so no client library signs behind our back. This server
grants object reads through the bucket ACL (it keeps no per-object ACLs; see PutObjectAcl), where
AWS would also need the object's own ACL: the reads below follow this server's documented choice.
"""

from __future__ import annotations

import os
from typing import Any
from xml.etree import ElementTree

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.e2e.clients_endpoint import SCHEMES, Endpoint, shared_endpoint
from tests.e2e.clients_sigv4 import RawClient, RawResponse, object_path

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module", params=SCHEMES)
def ep(request: pytest.FixtureRequest) -> Endpoint:
    return shared_endpoint(request.param)


@pytest.fixture(scope="module")
def s3(ep: Endpoint) -> Any:
    return ep.boto3()


@pytest.fixture(scope="module")
def anon(ep: Endpoint) -> RawClient:
    return RawClient(ep.url, creds=None, ca_file=ep.ca_file)


def anonymous(client: RawClient, method: str, path: str, body: bytes = b"") -> RawResponse:
    return client.request(method, path, body, sign_request=False)


def assert_denied(resp: RawResponse) -> None:
    assert resp.status == 403, (resp.status, resp.body[:300])
    if resp.body:  # HEAD errors carry no body
        assert resp.code() == "AccessDenied"


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key=key)
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"


def all_users_grants(s3: Any, bucket: str) -> list[str]:
    acl = s3.get_bucket_acl(Bucket=bucket)
    return sorted(g["Permission"] for g in acl["Grants"] if g["Grantee"].get("URI") == ALL_USERS)


def listed_keys(resp: RawResponse) -> list[str]:
    root = ElementTree.fromstring(resp.body)
    assert root.tag == f"{S3_NS}ListBucketResult", resp.body[:300]
    return [c.findtext(f"{S3_NS}Key") or "" for c in root.findall(f"{S3_NS}Contents")]


def test_public_read_on_create(s3: Any, anon: RawClient) -> None:
    bucket = f"pub-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="hello world.txt", Body=b"public bytes")

    assert all_users_grants(s3, bucket) == ["READ"]
    acl = s3.get_bucket_acl(Bucket=bucket)
    owner_grants = [g for g in acl["Grants"] if g["Grantee"].get("ID") == acl["Owner"]["ID"]]
    assert [g["Permission"] for g in owner_grants] == ["FULL_CONTROL"]

    got = anonymous(anon, "GET", object_path(bucket, "hello world.txt"))
    assert (got.status, got.body) == (200, b"public bytes")
    head = anonymous(anon, "HEAD", object_path(bucket, "hello world.txt"))
    assert (head.status, head.header("content-length")) == (200, "12")
    listing = anonymous(anon, "GET", object_path(bucket))
    assert listing.status == 200
    assert listed_keys(listing) == ["hello world.txt"]

    missing = anonymous(anon, "GET", object_path(bucket, "nope"))
    assert (missing.status, missing.code()) == (404, "NoSuchKey")


def test_public_read_refuses_anonymous_writes(s3: Any, anon: RawClient) -> None:
    bucket = f"pubw-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")

    assert_denied(anonymous(anon, "PUT", object_path(bucket, "intruder"), b"evil"))
    assert_absent(s3, bucket, "intruder")
    assert_denied(anonymous(anon, "PUT", object_path(bucket, "keep"), b"overwrite"))
    assert_denied(anonymous(anon, "DELETE", object_path(bucket, "keep")))
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"
    assert_denied(anonymous(anon, "PUT", f"{object_path(bucket)}?acl"))
    assert all_users_grants(s3, bucket) == ["READ"]
    assert_denied(anonymous(anon, "DELETE", object_path(bucket)))
    s3.head_bucket(Bucket=bucket)


def test_private_bucket_then_put_bucket_acl(s3: Any, anon: RawClient) -> None:
    bucket = f"priv-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s3cr3t")
    assert all_users_grants(s3, bucket) == []
    assert_denied(anonymous(anon, "GET", object_path(bucket, "secret")))
    assert_denied(anonymous(anon, "HEAD", object_path(bucket, "secret")))
    assert_denied(anonymous(anon, "GET", object_path(bucket)))

    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert all_users_grants(s3, bucket) == ["READ"]
    got = anonymous(anon, "GET", object_path(bucket, "secret"))
    assert (got.status, got.body) == (200, b"s3cr3t")
    assert listed_keys(anonymous(anon, "GET", object_path(bucket))) == ["secret"]
    assert_denied(anonymous(anon, "PUT", object_path(bucket, "new"), b"x"))
    assert_absent(s3, bucket, "new")

    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    assert all_users_grants(s3, bucket) == []
    assert_denied(anonymous(anon, "GET", object_path(bucket, "secret")))


def test_anonymous_service_and_missing_bucket(anon: RawClient) -> None:
    assert_denied(anonymous(anon, "GET", "/"))
    # AWS answers NoSuchBucket to anonymous callers too (bucket names are public anyway).
    missing = anonymous(anon, "GET", object_path(f"absent-{os.urandom(4).hex()}", "k"))
    assert (missing.status, missing.code()) == (404, "NoSuchBucket")
