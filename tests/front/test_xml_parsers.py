"""XML request-body parsers: CreateBucket, Delete, versioning, ACL, and the DTD guard."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alexanderd.front.errors import S3Error
from alexanderd.front.xml import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    CANNED_ACLS,
    S3_NS,
    XSI_NS,
    DeleteRequest,
    parse_acl,
    parse_create_bucket,
    parse_delete,
    parse_versioning,
)

NS = f"{{{S3_NS}}}"
T0 = 1795896000.0  # 2026-11-28T20:00:00Z
T0_ISO = "2026-11-28T20:00:00.000Z"
UTC = dt.UTC
TRICKY = "dir/a b+c&<d>%25é\x01\r"


# --- parsers -----------------------------------------------------------------------------


def _malformed(code: str = "MalformedXML") -> Any:
    return pytest.raises(S3Error, match=code)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", None),
        (b"  \n", None),
        (
            f'<CreateBucketConfiguration xmlns="{S3_NS}"><LocationConstraint>eu-west-1'
            "</LocationConstraint></CreateBucketConfiguration>".encode(),
            "eu-west-1",
        ),
        (
            b"<CreateBucketConfiguration><LocationConstraint> us-west-2 </LocationConstraint>"
            b"</CreateBucketConfiguration>",
            "us-west-2",
        ),
        (b"<CreateBucketConfiguration/>", None),
        (
            b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>",
            None,
        ),
    ],
)
def test_parse_create_bucket(body: bytes, expected: str | None) -> None:
    assert parse_create_bucket(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"<CreateBucketConfiguration>",
        b"<Other><LocationConstraint>x</LocationConstraint></Other>",
        b'<CreateBucketConfiguration xmlns="urn:other"/>',
        b"\xff\xfe<bad/>",
        b'<?xml version="1.0" encoding="UTF-16"?><CreateBucketConfiguration/>',
    ],
)
def test_parse_create_bucket_rejects_bad_documents(body: bytes) -> None:
    with _malformed():
        parse_create_bucket(body)


def test_dtd_and_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<Delete><Object><Key>&lol2;</Key></Object></Delete>"
    )
    with pytest.raises(S3Error, match="DTD") as info:
        parse_delete(bomb)
    assert info.value.code == "MalformedXML"
    external = b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete/>'
    with pytest.raises(S3Error, match="DTD"):
        parse_delete(external)


def test_parse_delete() -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="{S3_NS}"><Quiet>true</Quiet>'
        "<Object><Key>a&amp;b</Key></Object>"
        "<Object><Key> spaced </Key><VersionId>v1</VersionId></Object>"
        "<Object><Key>ü/&#13;</Key><VersionId></VersionId></Object></Delete>"
    ).encode()
    assert parse_delete(body) == DeleteRequest(
        objects=[("a&b", None), (" spaced ", "v1"), ("ü/\r", None)], quiet=True
    )
    plain = b"<Delete><Object><Key>k</Key></Object></Delete>"
    assert parse_delete(plain) == DeleteRequest(objects=[("k", None)], quiet=False)
    assert parse_delete(plain.replace(b"<Object>", b"<Quiet>False</Quiet><Object>")).quiet is False


def test_parse_delete_accepts_1000_objects_and_refuses_1001() -> None:
    def body(n: int) -> bytes:
        objects = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(n))
        return f"<Delete>{objects}</Delete>".encode()

    assert len(parse_delete(body(1000)).objects) == 1000
    with pytest.raises(S3Error, match="at most 1000"):
        parse_delete(body(1001))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<Delete/>", "no Object"),
        (b"<Delete><Object/></Delete>", "non-empty Key"),
        (b"<Delete><Object><Key></Key></Object></Delete>", "non-empty Key"),
        (b"<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>", "Quiet"),
        (b"<Delete><Object><Key>k</Key></Object>", "not well-formed"),
        (b"<Remove><Object><Key>k</Key></Object></Remove>", "expected a Delete"),
    ],
)
def test_parse_delete_rejects(body: bytes, why: str) -> None:
    with pytest.raises(S3Error, match=why) as info:
        parse_delete(body)
    assert info.value.code == "MalformedXML"


def test_parse_delete_empty_body() -> None:
    with pytest.raises(S3Error) as info:
        parse_delete(b"")
    assert info.value.code == "MissingRequestBodyError"


def test_parse_versioning() -> None:
    doc = f'<VersioningConfiguration xmlns="{S3_NS}"><Status>Enabled</Status>'
    assert parse_versioning((doc + "</VersioningConfiguration>").encode()) == "Enabled"
    suspended = b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"
    assert parse_versioning(suspended) == "Suspended"
    with _malformed():
        parse_versioning(b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")
    with _malformed():
        parse_versioning(b"<VersioningConfiguration/>")
    mfa = doc + "<MfaDelete>Enabled</MfaDelete></VersioningConfiguration>"
    with pytest.raises(S3Error) as info:
        parse_versioning(mfa.encode())
    assert info.value.code == "NotImplemented"


def _acl_body(grants: str, ns: bool = True) -> bytes:
    xmlns = f' xmlns="{S3_NS}"' if ns else ""
    return (
        f"<AccessControlPolicy{xmlns}><Owner><ID>oid</ID></Owner>"
        f"<AccessControlList>{grants}</AccessControlList></AccessControlPolicy>"
    ).encode()


def _grant(grantee: str, permission: str) -> str:
    grantee = f'<Grantee xmlns:xsi="{XSI_NS}" {grantee}'
    return f"<Grant>{grantee}<Permission>{permission}</Permission></Grant>"


OWNER = _grant('xsi:type="CanonicalUser"><ID>oid</ID></Grantee>', "FULL_CONTROL")


def _group(uri: str, permission: str) -> str:
    return _grant(f'xsi:type="Group"><URI>{uri}</URI></Grantee>', permission)


def test_parse_acl_recognises_canned_policies_in_any_order() -> None:
    assert parse_acl(_acl_body(OWNER), "oid") == "private"
    assert parse_acl(_acl_body(OWNER, ns=False), "oid") == "private"
    public_rw = _group(ALL_USERS, "WRITE") + OWNER + _group(ALL_USERS, "READ")
    assert parse_acl(_acl_body(public_rw), "oid") == "public-read-write"
    auth = OWNER + _group(AUTHENTICATED_USERS, "READ")
    assert parse_acl(_acl_body(auth), "oid") == "authenticated-read"
    assert set(CANNED_ACLS) == {"private", "public-read", "public-read-write", "authenticated-read"}


@pytest.mark.parametrize(
    "grants",
    [
        "",  # no owner grant
        _group(ALL_USERS, "READ"),
        OWNER + _grant('xsi:type="CanonicalUser"><ID>someone-else</ID></Grantee>', "READ"),
        _grant('xsi:type="CanonicalUser"><ID>oid</ID></Grantee>', "READ"),
        OWNER + _group(ALL_USERS, "WRITE_ACP"),
        OWNER
        + _grant(
            'xsi:type="AmazonCustomerByEmail"><EmailAddress>a@b</EmailAddress></Grantee>', "READ"
        ),
    ],
)
def test_parse_acl_non_canned_is_not_implemented(grants: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_acl(_acl_body(grants), "oid")
    assert (info.value.code, info.value.status) == ("NotImplemented", 501)
    assert "canned ACLs" in info.value.message


@pytest.mark.parametrize(
    "body",
    [
        b"<AccessControlPolicy><Owner/></AccessControlPolicy>",
        b"<AccessControlPolicy>",
        b"<Acl/>",
        _acl_body("<Grant><Permission>READ</Permission></Grant>"),
        _acl_body(f'<Grant><Grantee xmlns:xsi="{XSI_NS}" xsi:type="Group"/></Grant>'),
    ],
)
def test_parse_acl_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as info:
        parse_acl(body, "oid")
    assert info.value.code == "MalformedACLError"
