"""S3 XML renderers (parsed back field by field, and by botocore) and request-body parsers."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.handlers import decode_list_object, decode_list_object_v2, parse_get_bucket_location  # type: ignore[import-untyped]
from botocore.loaders import Loader  # type: ignore[import-untyped]
from botocore.model import ServiceModel  # type: ignore[import-untyped]
from botocore.parsers import RestXMLParser  # type: ignore[import-untyped]

from alexanderd.front.s3types import decode_token
from alexanderd.front.xml import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    S3_NS,
    XSI_NS,
    acl_xml,
    copy_result_xml,
    delete_result_xml,
    list_buckets_xml,
    list_objects_v1_xml,
    list_objects_v2_xml,
    location_xml,
    parse_acl,
    versioning_xml,
)
from protocol.meta import (
    BucketInfo,
    BucketList,
    DeleteFailure,
    ObjectDeleted,
    ObjectList,
    ObjectsDeleted,
    ObjectSummary,
)

NS = f"{{{S3_NS}}}"
T0 = 1795896000.0  # 2026-11-28T20:00:00Z
T0_ISO = "2026-11-28T20:00:00.000Z"
UTC = dt.UTC
TRICKY = "dir/a b+c&<d>%25é\x01\r"


def _root(body: bytes, tag: str) -> ET.Element:
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == NS + tag
    return root


def _find(element: ET.Element, name: str) -> str | None:
    found = element.find(NS + name)
    return None if found is None else (found.text or "")


_MODEL = ServiceModel(Loader().load_service_model("s3", "service-2"), "s3")


def _botocore(body: bytes, operation: str) -> dict[str, Any]:
    shape = _MODEL.operation_model(operation).output_shape
    parsed: dict[str, Any] = RestXMLParser().parse(
        {"status_code": 200, "headers": {}, "body": body}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def _obj(key: str, size: int = 5, etag: str = "abc123") -> ObjectSummary:
    return ObjectSummary(
        key=key, size=size, etag=etag, last_modified=T0, owner_id="oid", owner_name="owner"
    )


# --- ListAllMyBuckets --------------------------------------------------------------------


def test_list_buckets_fields() -> None:
    result = BucketList(
        owner_id="oid",
        owner_name="alice",
        buckets=[
            BucketInfo(name="alpha", owner_id="oid", owner_name="alice", created=T0),
            BucketInfo(
                name="beta", owner_id="oid", owner_name="alice", created=T0 + 1.5, region="eu-1"
            ),
        ],
    )
    root = _root(list_buckets_xml(result), "ListAllMyBucketsResult")
    owner = root.find(NS + "Owner")
    assert owner is not None
    assert (_find(owner, "ID"), _find(owner, "DisplayName")) == ("oid", "alice")
    buckets = root.findall(f"{NS}Buckets/{NS}Bucket")
    assert [
        (_find(b, "Name"), _find(b, "CreationDate"), _find(b, "BucketRegion")) for b in buckets
    ] == [("alpha", T0_ISO, "us-east-1"), ("beta", "2026-11-28T20:00:01.500Z", "eu-1")]
    assert _find(root, "ContinuationToken") is None
    assert _find(root, "Prefix") is None


def test_list_buckets_accepted_by_botocore() -> None:
    result = BucketList(
        owner_id="oid",
        owner_name="alice",
        buckets=[BucketInfo(name="alpha", owner_id="oid", owner_name="alice", created=T0)],
    )
    body = list_buckets_xml(result, prefix="al", continuation_token="tok")
    assert _botocore(body, "ListBuckets") == {
        "Owner": {"ID": "oid", "DisplayName": "alice"},
        "Buckets": [
            {
                "Name": "alpha",
                "CreationDate": dt.datetime(2026, 11, 28, 20, 0, tzinfo=UTC),
                "BucketRegion": "us-east-1",
            }
        ],
        "ContinuationToken": "tok",
        "Prefix": "al",
    }


def test_list_buckets_empty() -> None:
    body = list_buckets_xml(BucketList(owner_id="o", owner_name="n"))
    assert _botocore(body, "ListBuckets")["Buckets"] == []


# --- ListObjects V1 ----------------------------------------------------------------------


def test_list_v1_without_delimiter_has_no_next_marker() -> None:
    result = ObjectList(contents=[_obj("a"), _obj("b")], is_truncated=True, next_after="b")
    root = _root(
        list_objects_v1_xml("bkt", result, prefix="", marker="", max_keys=2), "ListBucketResult"
    )
    assert _find(root, "Name") == "bkt"
    assert _find(root, "Prefix") == ""
    assert _find(root, "Marker") == ""
    assert _find(root, "MaxKeys") == "2"
    assert _find(root, "IsTruncated") == "true"
    assert _find(root, "NextMarker") is None
    assert _find(root, "Delimiter") is None
    assert _find(root, "EncodingType") is None
    contents = root.findall(NS + "Contents")
    assert [_find(c, "Key") for c in contents] == ["a", "b"]
    first = contents[0]
    assert _find(first, "LastModified") == T0_ISO
    assert _find(first, "ETag") == '"abc123"'
    assert _find(first, "Size") == "5"
    assert _find(first, "StorageClass") == "STANDARD"
    owner = first.find(NS + "Owner")
    assert owner is not None and _find(owner, "ID") == "oid"


def test_list_v1_with_delimiter_has_next_marker_and_prefixes() -> None:
    result = ObjectList(
        contents=[_obj("photos/a.jpg")],
        common_prefixes=["photos/2024/"],
        is_truncated=True,
        next_after="photos/2024/",
    )
    body = list_objects_v1_xml(
        "bkt", result, prefix="photos/", delimiter="/", marker="photos/0", owner=False
    )
    root = _root(body, "ListBucketResult")
    assert _find(root, "NextMarker") == "photos/2024/"
    assert _find(root, "Delimiter") == "/"
    assert _find(root, "Marker") == "photos/0"
    assert [_find(p, "Prefix") for p in root.findall(NS + "CommonPrefixes")] == ["photos/2024/"]
    content = root.find(NS + "Contents")
    assert content is not None and content.find(NS + "Owner") is None
    parsed = _botocore(body, "ListObjects")
    assert parsed["NextMarker"] == "photos/2024/"
    assert parsed["CommonPrefixes"] == [{"Prefix": "photos/2024/"}]
    assert parsed["Contents"][0]["ETag"] == '"abc123"'


def test_list_v1_not_truncated_has_no_next_marker() -> None:
    result = ObjectList(contents=[_obj("a")], next_after="a")
    root = _root(list_objects_v1_xml("bkt", result, delimiter="/"), "ListBucketResult")
    assert _find(root, "IsTruncated") == "false"
    assert _find(root, "NextMarker") is None


def test_list_v1_url_encoding_round_trips_through_botocore() -> None:
    result = ObjectList(
        contents=[_obj(TRICKY)],
        common_prefixes=[TRICKY + "/"],
        is_truncated=True,
        next_after=TRICKY + "/",
    )
    body = list_objects_v1_xml(
        "bkt", result, prefix="dir/a b", delimiter="/", marker="dir/+", encoding_url=True
    )
    root = _root(body, "ListBucketResult")
    assert _find(root, "EncodingType") == "url"
    assert _find(root, "Prefix") == "dir/a%20b"
    assert _find(root, "Marker") == "dir/%2B"
    assert _find(root, "NextMarker") == "dir/a%20b%2Bc%26%3Cd%3E%2525%C3%A9%01%0D/"
    parsed = _botocore(body, "ListObjects")
    decode_list_object(parsed, context={"encoding_type_auto_set": True})
    assert parsed["Contents"][0]["Key"] == TRICKY
    assert parsed["CommonPrefixes"] == [{"Prefix": TRICKY + "/"}]
    assert parsed["NextMarker"] == TRICKY + "/"
    assert parsed["Marker"] == "dir/+"
    assert parsed["Delimiter"] == "/"


def test_list_v1_accepted_by_botocore() -> None:
    result = ObjectList(contents=[_obj("k", size=12, etag="d41d8cd9-2")], is_truncated=False)
    parsed = _botocore(list_objects_v1_xml("bkt", result, max_keys=1000), "ListObjects")
    assert parsed == {
        "Name": "bkt",
        "Prefix": "",
        "Marker": "",
        "MaxKeys": 1000,
        "IsTruncated": False,
        "Contents": [
            {
                "Key": "k",
                "LastModified": dt.datetime(2026, 11, 28, 20, 0, tzinfo=UTC),
                "ETag": '"d41d8cd9-2"',
                "Size": 12,
                "StorageClass": "STANDARD",
                "Owner": {"ID": "oid", "DisplayName": "owner"},
            }
        ],
    }


# --- ListObjects V2 ----------------------------------------------------------------------


def test_list_v2_fields_and_token() -> None:
    result = ObjectList(
        contents=[_obj("a/1"), _obj("a/2")],
        common_prefixes=["a/b/"],
        is_truncated=True,
        next_after="a/b/",
    )
    body = list_objects_v2_xml(
        "bkt",
        result,
        prefix="a/",
        delimiter="/",
        max_keys=3,
        continuation_token="prev",
        start_after="a/0",
    )
    root = _root(body, "ListBucketResult")
    assert _find(root, "KeyCount") == "3"
    assert _find(root, "MaxKeys") == "3"
    assert _find(root, "IsTruncated") == "true"
    assert _find(root, "ContinuationToken") == "prev"
    assert _find(root, "StartAfter") == "a/0"
    token = _find(root, "NextContinuationToken")
    assert token is not None and decode_token(token) == "a/b/"
    for content in root.findall(NS + "Contents"):
        assert content.find(NS + "Owner") is None
    parsed = _botocore(body, "ListObjectsV2")
    assert parsed["KeyCount"] == 3
    assert parsed["NextContinuationToken"] == token
    assert [c["Key"] for c in parsed["Contents"]] == ["a/1", "a/2"]
    assert parsed["CommonPrefixes"] == [{"Prefix": "a/b/"}]
    assert parsed["Delimiter"] == "/"
    assert parsed["Prefix"] == "a/"


def test_list_v2_untruncated_omits_optional_elements() -> None:
    body = list_objects_v2_xml("bkt", ObjectList(contents=[_obj("k")]), fetch_owner=True)
    root = _root(body, "ListBucketResult")
    for absent in ("NextContinuationToken", "ContinuationToken", "StartAfter", "Delimiter"):
        assert _find(root, absent) is None
    assert _find(root, "KeyCount") == "1"
    parsed = _botocore(body, "ListObjectsV2")
    assert parsed["IsTruncated"] is False
    assert parsed["Contents"][0]["Owner"] == {"ID": "oid", "DisplayName": "owner"}


def test_list_v2_empty_bucket() -> None:
    parsed = _botocore(list_objects_v2_xml("bkt", ObjectList()), "ListObjectsV2")
    assert parsed["KeyCount"] == 0
    assert "Contents" not in parsed


def test_list_v2_url_encoding_round_trips_through_botocore() -> None:
    result = ObjectList(contents=[_obj(TRICKY)], common_prefixes=["p q/"], is_truncated=False)
    body = list_objects_v2_xml(
        "bkt", result, prefix="dir/", delimiter=" ", start_after="a+b", encoding_url=True
    )
    root = _root(body, "ListBucketResult")
    assert _find(root, "StartAfter") == "a%2Bb"
    assert _find(root, "Delimiter") == "%20"
    parsed = _botocore(body, "ListObjectsV2")
    decode_list_object_v2(parsed, context={"encoding_type_auto_set": True})
    assert parsed["Contents"][0]["Key"] == TRICKY
    assert parsed["CommonPrefixes"] == [{"Prefix": "p q/"}]
    assert parsed["StartAfter"] == "a+b"
    assert parsed["Delimiter"] == " "


def test_unencoded_listing_escapes_and_replaces_invalid_characters() -> None:
    body = list_objects_v2_xml("bkt", ObjectList(contents=[_obj("a&<b>\x01\r")]))
    parsed = _botocore(body, "ListObjectsV2")
    assert parsed["Contents"][0]["Key"] == "a&<b>\ufffd\r"


# --- small documents ---------------------------------------------------------------------


class _RawResponse:
    """The two attributes botocore's GetBucketLocation handler reads from a response."""

    def __init__(self, content: bytes) -> None:
        self.raw = content
        self.content = content


def _botocore_location(body: bytes) -> str | None:
    parsed: dict[str, Any] = {}
    parse_get_bucket_location(parsed, _RawResponse(body))
    location: str | None = parsed["LocationConstraint"]
    return location


def test_location() -> None:
    for region in ("us-east-1", ""):
        root = _root(location_xml(region), "LocationConstraint")
        assert root.text is None
        assert _botocore_location(location_xml(region)) is None
    assert _root(location_xml("eu-west-1"), "LocationConstraint").text == "eu-west-1"
    assert _botocore_location(location_xml("eu-west-1")) == "eu-west-1"


def test_versioning() -> None:
    empty = _root(versioning_xml(""), "VersioningConfiguration")
    assert list(empty) == []
    assert _botocore(versioning_xml(""), "GetBucketVersioning") == {}
    assert _botocore(versioning_xml("Enabled"), "GetBucketVersioning") == {"Status": "Enabled"}
    assert _find(_root(versioning_xml("Suspended"), "VersioningConfiguration"), "Status") == (
        "Suspended"
    )
    with pytest.raises(ValueError, match="versioning status"):
        versioning_xml("On")


def test_copy_results() -> None:
    parsed = _botocore(copy_result_xml("abc", T0), "CopyObject")
    assert parsed["CopyObjectResult"] == {
        "ETag": '"abc"',
        "LastModified": dt.datetime(2026, 11, 28, 20, 0, tzinfo=UTC),
    }
    part = _botocore(copy_result_xml('"abc"', T0, part=True), "UploadPartCopy")
    assert part["CopyPartResult"]["ETag"] == '"abc"'


@pytest.mark.parametrize(
    ("acl", "groups"),
    [
        ("private", []),
        ("public-read", [(ALL_USERS, "READ")]),
        ("public-read-write", [(ALL_USERS, "READ"), (ALL_USERS, "WRITE")]),
        ("authenticated-read", [(AUTHENTICATED_USERS, "READ")]),
    ],
)
def test_acl_grants_for_each_canned_acl(acl: str, groups: list[tuple[str, str]]) -> None:
    body = acl_xml("oid", "alice", acl)
    root = _root(body, "AccessControlPolicy")
    grants = root.findall(f"{NS}AccessControlList/{NS}Grant")
    owner_grant = grants[0].find(NS + "Grantee")
    assert owner_grant is not None
    assert owner_grant.get(f"{{{XSI_NS}}}type") == "CanonicalUser"
    assert _find(owner_grant, "ID") == "oid"
    assert _find(grants[0], "Permission") == "FULL_CONTROL"
    found = []
    for grant in grants[1:]:
        grantee = grant.find(NS + "Grantee")
        assert grantee is not None and grantee.get(f"{{{XSI_NS}}}type") == "Group"
        found.append((_find(grantee, "URI"), _find(grant, "Permission")))
    assert found == groups
    parsed = _botocore(body, "GetBucketAcl")
    assert parsed["Owner"] == {"ID": "oid", "DisplayName": "alice"}
    assert parsed["Grants"][0] == {
        "Grantee": {"ID": "oid", "DisplayName": "alice", "Type": "CanonicalUser"},
        "Permission": "FULL_CONTROL",
    }
    assert [(g["Grantee"]["URI"], g["Permission"]) for g in parsed["Grants"][1:]] == groups
    # What we render, we accept back.
    assert parse_acl(body, "oid") == acl


def test_acl_unknown_name() -> None:
    with pytest.raises(ValueError, match="canned ACL"):
        acl_xml("o", "n", "log-delivery-write")


# --- DeleteResult ------------------------------------------------------------------------


def _delete_result() -> ObjectsDeleted:
    return ObjectsDeleted(
        deleted=[
            ObjectDeleted(key="plain"),
            ObjectDeleted(key="marked", version_id="v-marker", delete_marker=True),
            ObjectDeleted(key="versioned", version_id="v-1"),
        ],
        errors=[
            DeleteFailure(
                key="locked", code="AccessDenied", message="Access Denied", version_id="v-2"
            ),
            DeleteFailure(key="broken", code="BlobMissing", message="/srv/blobs/ab missing"),
            DeleteFailure(key="odd", code="SomethingElse", message="internal detail"),
        ],
    )


def test_delete_result_fields_and_botocore() -> None:
    body = delete_result_xml(_delete_result())
    root = _root(body, "DeleteResult")
    assert len(root.findall(NS + "Deleted")) == 3
    parsed = _botocore(body, "DeleteObjects")
    assert parsed["Deleted"] == [
        {"Key": "plain"},
        {"Key": "marked", "DeleteMarker": True, "DeleteMarkerVersionId": "v-marker"},
        {"Key": "versioned", "VersionId": "v-1"},
    ]
    assert parsed["Errors"] == [
        {"Key": "locked", "VersionId": "v-2", "Code": "AccessDenied", "Message": "Access Denied"},
        {
            "Key": "broken",
            "Code": "InternalError",
            "Message": "We encountered an internal error. Please try again.",
        },
        {
            "Key": "odd",
            "Code": "InternalError",
            "Message": "We encountered an internal error. Please try again.",
        },
    ]
    assert b"/srv/blobs" not in body


def test_quiet_delete_result_lists_only_errors() -> None:
    parsed = _botocore(delete_result_xml(_delete_result(), quiet=True), "DeleteObjects")
    assert "Deleted" not in parsed
    assert [e["Key"] for e in parsed["Errors"]] == ["locked", "broken", "odd"]
    empty = _root(delete_result_xml(ObjectsDeleted(), quiet=True), "DeleteResult")
    assert list(empty) == []
