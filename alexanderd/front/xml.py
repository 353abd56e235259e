"""S3 XML documents: fast renderers for responses and hardened parsers for request bodies.

Renderers build strings (every dynamic value goes through `xml_escape`, or for listing pages
through one check of a whole column that proves it would change nothing); parsers use the
stdlib ElementTree behind a guard that refuses DTDs, so no entity can expand, and accept the
S3 namespace or none. A body that is not the expected document raises MalformedXML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from alexanderd.front.errors import (
    ERRORS,
    INTERNAL_CODES,
    XML_DECLARATION,
    s3_error,
    xml_escape,
    xml_plain,
)
from alexanderd.front.s3types import encode_token, iso8601_ms, url_encode_key
from protocol.meta import BucketList, ObjectList, ObjectsDeleted, ObjectSummary

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

# Canned ACL -> the group grants S3 lists after the owner's FULL_CONTROL.
CANNED_ACLS: dict[str, tuple[tuple[str, str], ...]] = {
    "private": (),
    "public-read": ((ALL_USERS, "READ"),),
    "public-read-write": ((ALL_USERS, "READ"), (ALL_USERS, "WRITE")),
    "authenticated-read": ((AUTHENTICATED_USERS, "READ"),),
}

MAX_DELETE_OBJECTS = 1000


def _doc(root: str, body: str) -> bytes:
    return f'{XML_DECLARATION}<{root} xmlns="{S3_NS}">{body}</{root}>'.encode()


def _owner(owner_id: str, owner_name: str) -> str:
    return (
        f"<Owner><ID>{xml_escape(owner_id)}</ID>"
        f"<DisplayName>{xml_escape(owner_name)}</DisplayName></Owner>"
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _quoted_etag(etag: str) -> str:
    return "&quot;" + xml_escape(etag.strip('"')) + "&quot;"


# --- renderers ---------------------------------------------------------------------------


def list_buckets_xml(
    result: BucketList, *, prefix: str | None = None, continuation_token: str | None = None
) -> bytes:
    """ListAllMyBucketsResult; `continuation_token` is the token for the next page, if any."""
    parts = [_owner(result.owner_id, result.owner_name), "<Buckets>"]
    for b in result.buckets:
        parts.append(
            f"<Bucket><Name>{xml_escape(b.name)}</Name>"
            f"<CreationDate>{iso8601_ms(b.created)}</CreationDate>"
            f"<BucketRegion>{xml_escape(b.region)}</BucketRegion></Bucket>"
        )
    parts.append("</Buckets>")
    if continuation_token:
        parts.append(f"<ContinuationToken>{xml_escape(continuation_token)}</ContinuationToken>")
    if prefix is not None:
        parts.append(f"<Prefix>{xml_escape(prefix)}</Prefix>")
    return _doc("ListAllMyBucketsResult", "".join(parts))


def _key_text(key: str, encode: bool) -> str:
    # A URL-encoded key is ASCII with &, <, > and quotes percent-encoded: nothing to escape.
    return url_encode_key(key) if encode else xml_escape(key)


# The characters url_encode_key leaves as they are (quote's unreserved set, and "/").
_URL_PLAIN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/"


def _escape_all(values: list[str]) -> list[str]:
    """`xml_escape` of each value, checked once for the whole list: a page rarely has a value
    that needs escaping, and one pass over the joined text is far cheaper than a call each."""
    if xml_plain("".join(values)):
        return values
    return [xml_escape(value) for value in values]


def _key_texts(keys: list[str], encode: bool) -> list[str]:
    """`_key_text` of each key, checked once for the whole list as `_escape_all` does."""
    if not encode:
        return _escape_all(keys)
    joined = "".join(keys)
    if joined.isascii() and not joined.encode().translate(None, _URL_PLAIN):
        return keys
    return [url_encode_key(key) for key in keys]


_MILLIS_Z = [f"{ms:03d}Z" for ms in range(1000)]


def iso8601_ms_all(epochs: list[float]) -> list[str]:
    """`iso8601_ms` of each epoch. A page's entries mostly share their second with others
    (objects are written in bursts), so each second is formatted once per call."""
    seconds_text: dict[int, str] = {}
    out = []
    for epoch in epochs:
        seconds, ms = divmod(round(epoch * 1000), 1000)
        head = seconds_text.get(seconds)
        if head is None:
            head = seconds_text[seconds] = iso8601_ms(seconds)[:-4]  # without "000Z"
        out.append(head + _MILLIS_Z[ms])
    return out


def _contents(items: list[ObjectSummary], encode: bool, owner: bool) -> str:
    # Each column is converted for the whole page at once (see _escape_all), then every
    # entry is one f-string.
    keys = _key_texts([o.key for o in items], encode)
    etags = _escape_all([o.etag.strip('"') for o in items])
    stamps = iso8601_ms_all([o.last_modified for o in items])
    classes = [o.storage_class for o in items]
    if classes.count("STANDARD") != len(classes):
        classes = _escape_all(classes)
    owners = [""] * len(items)
    if owner:
        # A page has few distinct owners: each is rendered once.
        pairs = [(o.owner_id, o.owner_name) for o in items]
        rendered = {pair: _owner(*pair) for pair in set(pairs)}
        owners = [rendered[pair] for pair in pairs]
    return "".join(
        [
            f"<Contents><Key>{key}</Key><LastModified>{stamp}</LastModified>"
            f"<ETag>&quot;{etag}&quot;</ETag><Size>{o.size}</Size>"
            f"<StorageClass>{storage}</StorageClass>{owned}</Contents>"
            for o, key, stamp, etag, storage, owned in zip(
                items, keys, stamps, etags, classes, owners, strict=True
            )
        ]
    )


def _common_prefixes(prefixes: list[str], encode: bool) -> str:
    return "".join(
        [
            f"<CommonPrefixes><Prefix>{text}</Prefix></CommonPrefixes>"
            for text in _key_texts(prefixes, encode)
        ]
    )


def _text(name: str, value: str, encode: bool) -> str:
    return f"<{name}>{_key_text(value, encode)}</{name}>"


def list_objects_v1_xml(
    bucket: str,
    result: ObjectList,
    *,
    prefix: str = "",
    delimiter: str = "",
    marker: str = "",
    max_keys: int = 1000,
    encoding_url: bool = False,
    owner: bool = True,
) -> bytes:
    """ListBucketResult for ListObjects (V1).

    NextMarker appears only when a delimiter was given and the page is truncated, as S3
    documents (without one, clients resume from the last Key). With `encoding_url`, Prefix,
    Delimiter, Marker, NextMarker, Key and CommonPrefixes are URL-encoded.
    """
    parts = [
        f"<Name>{xml_escape(bucket)}</Name>",
        _text("Prefix", prefix, encoding_url),
        _text("Marker", marker, encoding_url),
    ]
    if delimiter and result.is_truncated and result.next_after:
        parts.append(_text("NextMarker", result.next_after, encoding_url))
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    if delimiter:
        parts.append(_text("Delimiter", delimiter, encoding_url))
    parts.append(f"<IsTruncated>{_bool(result.is_truncated)}</IsTruncated>")
    if encoding_url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(_contents(result.contents, encoding_url, owner))
    parts.append(_common_prefixes(result.common_prefixes, encoding_url))
    return _doc("ListBucketResult", "".join(parts))


def list_objects_v2_xml(
    bucket: str,
    result: ObjectList,
    *,
    prefix: str = "",
    delimiter: str = "",
    max_keys: int = 1000,
    continuation_token: str | None = None,
    start_after: str | None = None,
    encoding_url: bool = False,
    fetch_owner: bool = False,
) -> bytes:
    """ListBucketResult for ListObjectsV2.

    KeyCount counts keys and common prefixes. NextContinuationToken (present only when
    truncated) encodes `result.next_after`. ContinuationToken and StartAfter are echoed when
    they were sent; with `encoding_url`, Prefix, Delimiter, StartAfter, Key and
    CommonPrefixes are URL-encoded.
    """
    key_count = len(result.contents) + len(result.common_prefixes)
    parts = [
        f"<Name>{xml_escape(bucket)}</Name>",
        _text("Prefix", prefix, encoding_url),
    ]
    if delimiter:
        parts.append(_text("Delimiter", delimiter, encoding_url))
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys><KeyCount>{key_count}</KeyCount>")
    parts.append(f"<IsTruncated>{_bool(result.is_truncated)}</IsTruncated>")
    if encoding_url:
        parts.append("<EncodingType>url</EncodingType>")
    if continuation_token is not None:
        parts.append(f"<ContinuationToken>{xml_escape(continuation_token)}</ContinuationToken>")
    if result.is_truncated:
        token = encode_token(result.next_after)
        parts.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
    if start_after is not None:
        parts.append(_text("StartAfter", start_after, encoding_url))
    parts.append(_contents(result.contents, encoding_url, fetch_owner))
    parts.append(_common_prefixes(result.common_prefixes, encoding_url))
    return _doc("ListBucketResult", "".join(parts))


def location_xml(region: str) -> bytes:
    """GetBucketLocation: us-east-1 is an empty LocationConstraint, as S3 answers."""
    if region in ("", "us-east-1"):
        return f'{XML_DECLARATION}<LocationConstraint xmlns="{S3_NS}"/>'.encode()
    return _doc("LocationConstraint", xml_escape(region))


def _grantee_group(uri: str) -> str:
    return f'<Grantee xmlns:xsi="{XSI_NS}" xsi:type="Group"><URI>{uri}</URI></Grantee>'


def acl_xml(owner_id: str, owner_name: str, acl: str) -> bytes:
    """AccessControlPolicy for a canned ACL, with the grants S3 shows for it."""
    groups = CANNED_ACLS.get(acl)
    if groups is None:
        raise ValueError(f"unknown canned ACL {acl!r}; expected one of {sorted(CANNED_ACLS)}")
    grants = [
        f'<Grant><Grantee xmlns:xsi="{XSI_NS}" xsi:type="CanonicalUser">'
        f"<ID>{xml_escape(owner_id)}</ID><DisplayName>{xml_escape(owner_name)}</DisplayName>"
        "</Grantee><Permission>FULL_CONTROL</Permission></Grant>"
    ]
    for uri, permission in groups:
        grants.append(f"<Grant>{_grantee_group(uri)}<Permission>{permission}</Permission></Grant>")
    body = _owner(owner_id, owner_name) + "<AccessControlList>" + "".join(grants)
    return _doc("AccessControlPolicy", body + "</AccessControlList>")


def delete_result_xml(result: ObjectsDeleted, *, quiet: bool = False) -> bytes:
    """DeleteResult for DeleteObjects; quiet mode lists only the failures.

    A deletion that created a delete marker reports DeleteMarker and DeleteMarkerVersionId;
    one that removed a specific version reports its VersionId. Failure codes that are ours
    alone are shown as the S3 code a client understands.
    """
    parts = []
    if not quiet:
        for d in result.deleted:
            parts.append(f"<Deleted><Key>{xml_escape(d.key)}</Key>")
            if d.delete_marker:
                parts.append("<DeleteMarker>true</DeleteMarker>")
                if d.version_id:
                    parts.append(
                        f"<DeleteMarkerVersionId>{xml_escape(d.version_id)}</DeleteMarkerVersionId>"
                    )
            elif d.version_id:
                parts.append(f"<VersionId>{xml_escape(d.version_id)}</VersionId>")
            parts.append("</Deleted>")
    for e in result.errors:
        code = INTERNAL_CODES.get(e.code, e.code)
        if code not in ERRORS:
            code = "InternalError"
        message = e.message if code == e.code and e.message else ERRORS[code][1]
        version = f"<VersionId>{xml_escape(e.version_id)}</VersionId>" if e.version_id else ""
        parts.append(
            f"<Error><Key>{xml_escape(e.key)}</Key>{version}<Code>{code}</Code>"
            f"<Message>{xml_escape(message)}</Message></Error>"
        )
    return _doc("DeleteResult", "".join(parts))


def copy_result_xml(etag: str, last_modified: float, *, part: bool = False) -> bytes:
    """CopyObjectResult (or CopyPartResult for UploadPartCopy)."""
    root = "CopyPartResult" if part else "CopyObjectResult"
    body = (
        f"<LastModified>{iso8601_ms(last_modified)}</LastModified><ETag>{_quoted_etag(etag)}</ETag>"
    )
    return _doc(root, body)


def versioning_xml(status: str) -> bytes:
    """VersioningConfiguration: empty for a bucket that was never versioned."""
    if not status:
        return f'{XML_DECLARATION}<VersioningConfiguration xmlns="{S3_NS}"/>'.encode()
    if status not in ("Enabled", "Suspended"):
        raise ValueError(f"unknown versioning status {status!r}")
    return _doc("VersioningConfiguration", f"<Status>{status}</Status>")


# --- parsers -----------------------------------------------------------------------------


def _malformed(why: str, code: str = "MalformedXML") -> Exception:
    return s3_error(code, f"{ERRORS[code][1]}: {why}")


def _parse(body: bytes, root: str, code: str = "MalformedXML") -> ET.Element:
    """The root element of `body`, which must be `root` in the S3 namespace or none."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _malformed("the body is not UTF-8", code) from None
    # No DTD means no entity declarations, hence no entity expansion of any size.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise _malformed("DTDs and entity declarations are not allowed", code)
    try:
        # Bytes, not text: expat then checks any encoding declaration against the bytes.
        element = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _malformed(f"not well-formed XML ({exc})", code) from None
    if _local(element.tag) != root or _namespace(element.tag) not in ("", S3_NS):
        raise _malformed(f"expected a {root} document, got {_local(element.tag)}", code)
    return element


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    if not found:
        return None
    return found[0].text or ""


def parse_create_bucket(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucketConfiguration; None for an empty body."""
    if not body.strip():
        return None
    root = _parse(body, "CreateBucketConfiguration")
    location = (_child_text(root, "LocationConstraint") or "").strip()
    return location or None


@dataclass(frozen=True)
class DeleteRequest:
    """A DeleteObjects body: (key, version id) pairs in request order, and Quiet."""

    objects: list[tuple[str, str | None]]
    quiet: bool


def _parse_bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise _malformed(f"{name} must be true or false")
    return lowered == "true"


def parse_delete(body: bytes) -> DeleteRequest:
    """A DeleteObjects `<Delete>` body: 1 to 1,000 objects, each with a Key."""
    if not body.strip():
        raise s3_error("MissingRequestBodyError")
    root = _parse(body, "Delete")
    objects: list[tuple[str, str | None]] = []
    for obj in _children(root, "Object"):
        key = _child_text(obj, "Key")
        if not key:
            raise _malformed("every Object needs a non-empty Key")
        version = _child_text(obj, "VersionId")
        objects.append((key, version or None))
        if len(objects) > MAX_DELETE_OBJECTS:
            raise _malformed(f"at most {MAX_DELETE_OBJECTS} objects can be deleted at once")
    if not objects:
        raise _malformed("the Delete element lists no Object")
    return DeleteRequest(objects, _parse_bool(_child_text(root, "Quiet"), "Quiet"))


def parse_versioning(body: bytes) -> str:
    """The Status of a PutBucketVersioning body: "Enabled" or "Suspended"."""
    root = _parse(body, "VersioningConfiguration")
    status = (_child_text(root, "Status") or "").strip()
    if status not in ("Enabled", "Suspended"):
        raise _malformed("Status must be Enabled or Suspended")
    mfa = (_child_text(root, "MfaDelete") or "Disabled").strip()
    if mfa != "Disabled":
        raise s3_error("NotImplemented", "MFA Delete is not supported by this server.")
    return status


_XSI_TYPE = f"{{{XSI_NS}}}type"


def parse_acl(body: bytes, owner_id: str) -> str:
    """The canned ACL an AccessControlPolicy body is equivalent to.

    Only policies that grant the owner FULL_CONTROL plus exactly the group grants of a canned
    ACL are accepted; grants to other accounts or other permission sets are NotImplemented
    (this server stores canned ACLs only). A broken document is MalformedACLError.
    """
    root = _parse(body, "AccessControlPolicy", "MalformedACLError")
    acl_lists = _children(root, "AccessControlList")
    if len(acl_lists) != 1:
        raise _malformed("expected one AccessControlList", "MalformedACLError")
    owner_full = False
    groups: set[tuple[str, str]] = set()
    for grant in _children(acl_lists[0], "Grant"):
        grantees = _children(grant, "Grantee")
        permission = (_child_text(grant, "Permission") or "").strip()
        if len(grantees) != 1 or not permission:
            raise _malformed("every Grant needs one Grantee and a Permission", "MalformedACLError")
        grantee = grantees[0]
        kind = grantee.get(_XSI_TYPE) or grantee.get("type") or ""
        if kind == "CanonicalUser":
            if (_child_text(grantee, "ID") or "").strip() != owner_id:
                raise _not_canned("grants to other accounts")
            if permission != "FULL_CONTROL":
                raise _not_canned(f"an owner grant of {permission}")
            owner_full = True
        elif kind == "Group":
            groups.add(((_child_text(grantee, "URI") or "").strip(), permission))
        else:
            raise _not_canned(f"grantee type {kind or '(none)'}")
    if owner_full:
        for name, canned in CANNED_ACLS.items():
            if groups == set(canned):
                return name
    raise _not_canned("this combination of grants")


def _not_canned(what: str) -> Exception:
    return s3_error(
        "NotImplemented",
        f"This server supports only canned ACLs ({', '.join(CANNED_ACLS)}); the policy "
        f"contains {what}.",
    )
