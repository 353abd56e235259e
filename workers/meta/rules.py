"""Pure S3 rules the engines share: name checks, access decisions, ETag matching, key order.

No I/O here, so every rule is unit-tested on its own and no engine can drift from another.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from protocol.errors import RemoteError
from protocol.layout import is_sha256
from workers.meta.store import CANNED_ACLS

Access = Literal["read", "write", "owner"]

MAX_KEY_BYTES = 1024
_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_USER_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_MAX_CODE_POINT = 0x10FFFF


def error(code: str, message: str) -> RemoteError:
    return RemoteError(message, code=code)


def check_bucket_name(name: str) -> None:
    """AWS general-purpose bucket naming rules; InvalidBucketName with the rule broken."""
    why = ""
    if not 3 <= len(name) <= 63:
        why = "must be 3 to 63 characters long"
    elif not _BUCKET_CHARS.fullmatch(name):
        why = (
            "may contain only lowercase letters, digits, '.' and '-', and must begin and end"
            " with a letter or digit"
        )
    elif ".." in name:
        why = "must not contain two adjacent periods"
    elif _looks_like_ip(name):
        why = "must not be formatted as an IP address"
    elif name.startswith(_BUCKET_BAD_PREFIXES) or name.endswith(_BUCKET_BAD_SUFFIXES):
        why = "uses a prefix or suffix reserved by S3"
    if why:
        raise error("InvalidBucketName", f"The specified bucket is not valid: {name!r} {why}.")


def _looks_like_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def check_acl(acl: str) -> None:
    if acl not in CANNED_ACLS:
        raise error(
            "InvalidArgument",
            f"Unknown canned ACL {acl!r}; expected one of {', '.join(CANNED_ACLS)}.",
        )


def check_key(key: str) -> None:
    if not key:
        raise error("InvalidArgument", "An object key must not be empty.")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise error("KeyTooLongError", "Your key is too long (over 1,024 bytes in UTF-8).")


def check_user_name(name: str) -> None:
    if not _USER_NAME.fullmatch(name):
        raise error(
            "InvalidUserName",
            f"User name {name!r} must be 1-64 characters of A-Z a-z 0-9 and +=,.@_-",
        )


def check_digest(sha256: str) -> None:
    if not is_sha256(sha256):
        raise error("InvalidArgument", f"Not a lowercase hex SHA-256 digest: {sha256!r}.")


def allowed(owner_id: str, acl: str, principal: str | None, need: Access) -> bool:
    """The canned-ACL decision table (see MetaStore's docstring)."""
    if principal is not None and principal == owner_id:
        return True
    if need == "owner":
        return False
    if need == "write":
        return acl == "public-read-write"
    if acl in ("public-read", "public-read-write"):
        return True
    return acl == "authenticated-read" and principal is not None


def require(owner_id: str, acl: str, principal: str | None, need: Access) -> None:
    if not allowed(owner_id, acl, principal, need):
        raise error("AccessDenied", "Access Denied")


def etag_matches(header: str, etag: str) -> bool:
    """If-Match semantics for a write: "*" matches any object, otherwise any listed ETag
    (quoted or not, weak prefix ignored) equal to the object's unquoted ETag."""
    for raw in header.split(","):
        candidate = raw.strip()
        if candidate == "*":
            return True
        candidate = candidate.removeprefix("W/").strip('"')
        if candidate == etag:
            return True
    return False


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix`, or None if none
    exists. Code point order equals UTF-8 byte order, so this is also the byte successor
    that the engines' BINARY key index seeks to."""
    chars = list(prefix)
    while chars:
        point = ord(chars[-1])
        if point < _MAX_CODE_POINT:
            point += 1
            if 0xD800 <= point <= 0xDFFF:
                # Surrogates cannot be encoded in UTF-8: the next character is U+E000.
                point = 0xE000
            chars[-1] = chr(point)
            return "".join(chars)
        chars.pop()
    return None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The CommonPrefix a key rolls up into under `prefix`/`delimiter`, or None."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    if at < 0:
        return None
    return key[: at + len(delimiter)]


PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"


def check_write_conditions(
    key: str, if_none_match: str | None, if_match: str | None, current: tuple[bool, str] | None
) -> None:
    """A conditional write (PUT or CompleteMultipartUpload) against the key's latest version,
    `current` = (is a delete marker, ETag) or None. If-None-Match accepts only "*"
    (NotImplemented otherwise) and fails with PreconditionFailed when an object exists;
    If-Match fails with NoSuchKey when none exists (a delete marker hides it) and with
    PreconditionFailed when no listed ETag matches."""
    exists = current is not None and not current[0]
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise error(
                "NotImplemented",
                "If-None-Match on a write accepts only '*' (create only if absent).",
            )
        if exists:
            raise error("PreconditionFailed", PRECONDITION_FAILED)
    if if_match is not None:
        if current is None or not exists:
            raise error("NoSuchKey", f"The specified key does not exist: {key}")
        if not etag_matches(if_match, current[1]):
            raise error("PreconditionFailed", PRECONDITION_FAILED)
