"""The S3 error table, S3Error construction, remote error mapping and the error document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.loaders import Loader  # type: ignore[import-untyped]
from botocore.model import ServiceModel  # type: ignore[import-untyped]
from botocore.parsers import RestXMLParser  # type: ignore[import-untyped]

from alexanderd.front.errors import (
    ERRORS,
    INTERNAL_CODES,
    S3Error,
    as_s3_error,
    from_remote,
    render_error,
    s3_error,
    xml_escape,
)
from protocol.errors import ProtocolError, RemoteError, Unavailable

# Status codes from the AWS S3 API reference "List of error codes" (and ours at the end).
EXPECTED_STATUS = {
    "AccessDenied": 403,
    "AccountProblem": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "ExpiredToken": 400,
    "IllegalLocationConstraintException": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidLocationConstraint": 400,
    "InvalidObjectState": 403,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "InvalidStorageClass": 400,
    "KeyTooLongError": 400,
    "MalformedACLError": 400,
    "MalformedXML": 400,
    "MaxMessageLengthExceeded": 400,
    "MetadataTooLarge": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "MissingRequestBodyError": 400,
    "MissingSecurityHeader": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NoSuchVersion": 404,
    "NotImplemented": 501,
    "NotModified": 304,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "RequestTimeout": 400,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "SlowDown": 503,
    "TooManyBuckets": 400,
    "XAmzContentSHA256Mismatch": 400,
    "InvalidTag": 400,
    "NoSuchBucketPolicy": 404,
    "NoSuchCORSConfiguration": 404,
    "NoSuchLifecycleConfiguration": 404,
    "NoSuchTagSet": 404,
    "InvalidEncryptionAlgorithmError": 400,
    "InsufficientStorage": 507,
}


@pytest.mark.parametrize(("code", "status"), sorted(EXPECTED_STATUS.items()))
def test_table_has_code_with_aws_status(code: str, status: int) -> None:
    assert ERRORS[code][0] == status
    assert ERRORS[code][1]  # every code has a default message
    err = s3_error(code)
    assert (err.code, err.status, err.message) == (code, status, ERRORS[code][1])


def test_every_internal_code_maps_to_a_public_code() -> None:
    for internal, public in INTERNAL_CODES.items():
        assert internal not in ERRORS
        assert public in ERRORS


def test_insufficient_storage_is_a_clear_507() -> None:
    err = s3_error("InsufficientStorage")
    assert err.status == 507
    assert err.message == "Insufficient storage to complete the request"


def test_s3_error_keeps_message_and_stringifies_extra() -> None:
    err = s3_error("InvalidRange", "nope", ActualObjectSize=10, RangeRequested="bytes=20-")
    assert err.message == "nope"
    assert err.extra == {"ActualObjectSize": "10", "RangeRequested": "bytes=20-"}
    assert str(err) == "InvalidRange: nope"


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="NoSuchThing"):
        s3_error("NoSuchThing")


@pytest.mark.parametrize("name", ["Code", "Message", "Resource", "RequestId", "HostId", "a b", ""])
def test_reserved_or_invalid_extra_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="extra element name"):
        S3Error("AccessDenied", None, {name: "x"})


@pytest.mark.parametrize("internal", sorted(INTERNAL_CODES))
def test_internal_codes_reach_the_client_as_internal_error(internal: str) -> None:
    err = S3Error(internal, "/var/lib/alexanderd/blobs/ab/cd/abcd missing")
    assert err.code == "InternalError"
    assert err.status == 500
    assert err.message == ERRORS["InternalError"][1]
    assert err.internal_code == internal
    assert "blobs/ab/cd" in err.log_detail
    body = render_error(err, "/b/k", "rid", "hid")
    assert b"InternalError" in body
    assert internal.encode() not in body
    assert b"blobs/ab/cd" not in body


def test_from_remote_known_code_keeps_message_and_element_details() -> None:
    err = from_remote(
        "NoSuchKey", "The specified key does not exist.", {"Key": "a/b", "lower case": "x"}
    )
    assert (err.code, err.status) == ("NoSuchKey", 404)
    assert err.message == "The specified key does not exist."
    assert err.extra == {"Key": "a/b"}


def test_from_remote_empty_message_uses_default() -> None:
    assert from_remote("NoSuchBucket", "", {}).message == ERRORS["NoSuchBucket"][1]


def test_from_remote_drops_reserved_detail_names() -> None:
    err = from_remote("AccessDenied", "no", {"Code": "Evil", "RequestId": "x"})
    assert err.extra == {}


def test_from_remote_unknown_code_is_internal_error() -> None:
    err = from_remote("NoSuchEntity", "user bob does not exist", {"User": "bob"})
    assert (err.code, err.status) == ("InternalError", 500)
    assert err.internal_code == "NoSuchEntity"
    assert err.log_detail == "user bob does not exist"
    assert err.extra == {}


def test_from_remote_internal_code_hides_details() -> None:
    err = from_remote("BlobCorrupt", "sha256 mismatch for abc", {"Path": "/srv/x"})
    assert err.code == "InternalError"
    assert err.extra == {}
    assert err.log_detail == "sha256 mismatch for abc"


def test_as_s3_error_passes_s3_errors_through() -> None:
    err = s3_error("NoSuchKey")
    assert as_s3_error(err) is err


def test_as_s3_error_maps_remote_errors() -> None:
    assert as_s3_error(Unavailable("meta is down")).status == 503
    assert as_s3_error(Unavailable("meta is down")).code == "ServiceUnavailable"
    proto = as_s3_error(ProtocolError("bad frame"))
    assert (proto.code, proto.internal_code) == ("InternalError", "ProtocolError")
    remote = as_s3_error(RemoteError("gone", {"BucketName": "b"}, code="NoSuchBucket"))
    assert (remote.code, remote.extra) == ("NoSuchBucket", {"BucketName": "b"})


def test_as_s3_error_hides_unexpected_exceptions() -> None:
    err = as_s3_error(KeyError("secret"))
    assert err.code == "InternalError"
    assert err.internal_code == "KeyError"
    assert "secret" in err.log_detail
    assert "secret" not in err.message


def test_xml_escape() -> None:
    assert xml_escape("plain/key.txt") == "plain/key.txt"
    assert xml_escape('a<b>&"c"') == "a&lt;b&gt;&amp;&quot;c&quot;"
    assert xml_escape("cr\rlf\n\ttab") == "cr&#13;lf\n\ttab"
    assert xml_escape("nul\x00bell\x07") == "nul\ufffdbell\ufffd"
    assert xml_escape("\ufffe\uffff") == "\ufffd\ufffd"
    assert xml_escape("lone\udc80") == "lone\ufffd"
    assert xml_escape("ünïcødé 🎉") == "ünïcødé 🎉"


def _children(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def test_render_error_round_trips_through_a_parser() -> None:
    key = "dir/<weird> & \x01key\r"
    err = s3_error("NoSuchKey", Key=key, BucketName="bkt")
    body = render_error(err, f"/bkt/{key}", "REQ123", "HOST456")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    fields = _children(body)
    assert fields == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "Key": "dir/<weird> & \ufffdkey\r",
        "BucketName": "bkt",
        "Resource": "/bkt/dir/<weird> & \ufffdkey\r",
        "RequestId": "REQ123",
        "HostId": "HOST456",
    }
    order = [child.tag for child in ET.fromstring(body)]
    assert order == ["Code", "Message", "Key", "BucketName", "Resource", "RequestId", "HostId"]


def test_render_error_omits_empty_resource() -> None:
    fields = _children(render_error(s3_error("AccessDenied"), "", "r", "h"))
    assert "Resource" not in fields
    assert fields["Code"] == "AccessDenied"


def _parse_with_botocore(body: bytes, status: int, operation: str) -> dict[str, Any]:
    model = ServiceModel(Loader().load_service_model("s3", "service-2"), "s3")
    shape = model.operation_model(operation).output_shape
    response = {"status_code": status, "headers": {}, "body": body}
    parsed: dict[str, Any] = RestXMLParser().parse(response, shape)
    return parsed


def test_botocore_parses_the_error_document() -> None:
    err = s3_error("NoSuchBucket", BucketName="missing-bucket")
    body = render_error(err, "/missing-bucket", "RID1", "HID1")
    parsed = _parse_with_botocore(body, 404, "ListObjectsV2")
    # botocore takes RequestId/HostId from the headers and drops them from the body's fields.
    assert parsed["Error"] == {
        "Code": "NoSuchBucket",
        "Message": "The specified bucket does not exist",
        "BucketName": "missing-bucket",
        "Resource": "/missing-bucket",
    }
