"""Pure helpers for S3 request and response values: dates, names, ranges, conditionals,
metadata headers, continuation tokens and copy sources. No I/O; bad input raises `S3Error`.

Header mappings passed in here have lower-case names, as ASGI delivers them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import re
import time
import zlib
from collections.abc import Mapping
from email.utils import formatdate
from typing import Literal
from urllib.parse import quote, unquote

from alexanderd.front.errors import S3Error, s3_error

# --- dates -------------------------------------------------------------------------------


def http_date(epoch: float) -> str:
    """RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), whole seconds; cached, since
    the same objects are read again and again."""
    return _http_date(int(epoch))


_http_date = functools.lru_cache(maxsize=4096)(functools.partial(formatdate, usegmt=True))


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# The three forms RFC 7231 section 7.1.1.1 obliges a recipient to accept.
_HMS = r"(\d{2}):(\d{2}):(\d{2})"
_IMF_FIXDATE = re.compile(rf"[A-Za-z]{{3}}, (\d{{2}}) ([A-Za-z]{{3}}) (\d{{4}}) {_HMS} GMT", re.A)
_RFC850 = re.compile(rf"[A-Za-z]{{6,9}}, (\d{{2}})-([A-Za-z]{{3}})-(\d{{2}}) {_HMS} GMT", re.A)
_ASCTIME = re.compile(rf"[A-Za-z]{{3}} ([A-Za-z]{{3}}) ([ \d]\d) {_HMS} (\d{{4}})", re.A)


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date in any of its three forms, or None when it is not one."""
    value = value.strip()
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(value):
        day, month, yy, hh, mm, ss = m.groups()
        # RFC 7231: a two-digit year more than 50 years in the future means the past century.
        this_year = time.gmtime().tm_year
        year_i = this_year - this_year % 100 + int(yy)
        if year_i > this_year + 50:
            year_i -= 100
        year = str(year_i)
    elif m := _ASCTIME.fullmatch(value):
        month, day, hh, mm, ss, year = m.groups()
    else:
        return None
    month_i = _MONTHS.get(month.lower())
    if month_i is None:
        return None
    try:
        moment = datetime.datetime(
            int(year), month_i, int(day), int(hh), int(mm), int(ss), tzinfo=datetime.UTC
        )
    except ValueError:  # 31 Feb, 24:00, ...
        return None
    return moment.timestamp()


def iso8601_ms(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, as S3 writes dates in XML: `2026-11-28T20:00:00.000Z`."""
    millis = round(epoch * 1000)
    seconds, ms = divmod(millis, 1000)
    days, second = divmod(seconds, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_iso_day(days)}T{_PAD[hour]}:{_PAD[minute]}:{_PAD[second]}.{_PAD3[ms]}Z"


# Table lookups: format specs cost more than the rest of a listing entry together.
_PAD = [f"{i:02d}" for i in range(60)]
_PAD3 = [f"{i:03d}" for i in range(1000)]


@functools.lru_cache(maxsize=4096)
def _iso_day(days: int) -> str:
    # Listings repeat a few distinct days thousands of times; strftime per entry cost 4 us.
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86400))


# --- names -------------------------------------------------------------------------------

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", re.ASCII)
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+", re.ASCII)
# Reserved by the AWS general purpose bucket naming rules.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

MAX_KEY_BYTES = 1024


def validate_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless `name` follows the AWS general purpose bucket rules."""
    problem = None
    if not 3 <= len(name) <= 63:
        problem = "bucket names must be between 3 and 63 characters long"
    elif not _BUCKET_CHARS.fullmatch(name):
        problem = (
            "bucket names may contain only lowercase letters, digits, '.' and '-', and must "
            "begin and end with a letter or digit"
        )
    elif ".." in name:
        problem = "bucket names must not contain two adjacent periods"
    elif _IP_LIKE.fullmatch(name):
        problem = "bucket names must not be formatted as an IP address"
    elif name.startswith(_RESERVED_PREFIXES):
        prefix = next(p for p in _RESERVED_PREFIXES if name.startswith(p))
        problem = f"bucket names must not start with the reserved prefix {prefix!r}"
    elif name.endswith(_RESERVED_SUFFIXES):
        suffix = next(s for s in _RESERVED_SUFFIXES if name.endswith(s))
        problem = f"bucket names must not end with the reserved suffix {suffix!r}"
    if problem is not None:
        raise s3_error(
            "InvalidBucketName", f"The specified bucket is not valid: {problem}.", BucketName=name
        )


def validate_key(key: str) -> None:
    """Raise unless `key` is a usable object key: non-empty UTF-8 of at most 1,024 bytes."""
    if not key:
        raise s3_error("InvalidArgument", "The object key must not be empty.")
    try:
        size = len(key.encode())
    except UnicodeEncodeError:
        raise s3_error("InvalidArgument", "The object key is not valid UTF-8.") from None
    if size > MAX_KEY_BYTES:
        raise s3_error("KeyTooLongError", Size=size, MaxSizeAllowed=MAX_KEY_BYTES)


def url_encode_key(key: str) -> str:
    """A key (or prefix, delimiter, marker) as `encoding-type=url` listings carry it.

    Everything but unreserved characters and '/' is percent-encoded as UTF-8, so '+' becomes
    %2B and a space %20: both plain and form decoders (botocore uses unquote_plus) get the
    key back.
    """
    return quote(key, safe="/")


# --- ranges ------------------------------------------------------------------------------

_BYTE_RANGE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)", re.ASCII | re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte range a `Range` header selects from `size` bytes.

    None means "send the whole object": no header, a syntax S3 ignores (another unit,
    malformed, last < first) or several ranges, which S3 does not serve. A range starting
    at or past the end raises InvalidRange (416), as does a zero-length suffix.
    """
    if header is None:
        return None
    m = _BYTE_RANGE.fullmatch(header.strip())
    if m is None:
        return None
    first_s, last_s = m.groups()
    if first_s:
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
        if last_s and last < first:
            return None
        if first >= size:
            raise _unsatisfiable(header, size)
        return first, min(last, size - 1)
    if not last_s:
        return None
    suffix = int(last_s)
    if suffix == 0:
        raise _unsatisfiable(header, size)
    if size == 0:
        return None
    return max(size - suffix, 0), size - 1


def _unsatisfiable(header: str, size: int) -> S3Error:
    return s3_error("InvalidRange", RangeRequested=header.strip()[:256], ActualObjectSize=size)


# --- conditionals ------------------------------------------------------------------------

_ETAG_ITEM = re.compile(r'\s*(?:W/)?("[^"]*"|[^,\s]+)\s*(?:,|$)')


def _etag_list(value: str) -> list[str]:
    """The entity tags of an If-Match / If-None-Match value, unquoted, weak prefix dropped."""
    tags: list[str] = []
    pos = 0
    value = value.strip()
    while pos < len(value):
        m = _ETAG_ITEM.match(value, pos)
        if m is None or m.end() == pos:
            break
        tags.append(m.group(1).strip('"'))
        pos = m.end()
    return tags


def etag_matches(header_value: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match value names `etag` (or is `*`).

    Tolerant as S3 clients need: quotes optional, `W/` ignored, comma-separated lists.
    """
    tags = _etag_list(header_value)
    bare = etag.strip('"')
    return "*" in tags or bare in tags


def _modified_since(last_modified: float, date: float) -> bool:
    # HTTP dates have whole seconds; the object's time has milliseconds. An object stored at
    # 10:00:00.500 has Last-Modified 10:00:00 and must count as unmodified since 10:00:00.
    return int(last_modified) > date


def _failed_match(headers: Mapping[str, str], prefix: str, etag: str, last_modified: float) -> str:
    """The If-Match / If-Unmodified-Since header that fails (RFC 7232 section 6 steps 1-2)."""
    if_match = headers.get(prefix + "if-match")
    if if_match is not None:
        return "" if etag_matches(if_match, etag) else "If-Match"
    since = headers.get(prefix + "if-unmodified-since")
    date = parse_http_date(since) if since is not None else None
    if date is not None and _modified_since(last_modified, date):
        return "If-Unmodified-Since"
    return ""


def _failed_none_match(
    headers: Mapping[str, str], prefix: str, etag: str, last_modified: float
) -> str:
    """The If-None-Match / If-Modified-Since header that fails (RFC 7232 section 6 steps 3-4)."""
    if_none_match = headers.get(prefix + "if-none-match")
    if if_none_match is not None:
        return "If-None-Match" if etag_matches(if_none_match, etag) else ""
    since = headers.get(prefix + "if-modified-since")
    date = parse_http_date(since) if since is not None else None
    if date is not None and not _modified_since(last_modified, date):
        return "If-Modified-Since"
    return ""


def evaluate_read_conditions(
    headers: Mapping[str, str], etag: str, last_modified: float
) -> Literal["not_modified"] | None:
    """Apply GET/HEAD preconditions in RFC 7232 order, which is what S3 documents.

    If-Match wins over If-Unmodified-Since (a matching ETag serves the object even when the
    date check fails); a failure raises PreconditionFailed (412). If-None-Match wins over
    If-Modified-Since; a failure returns "not_modified" (304). Unparseable dates are ignored.
    """
    failed = _failed_match(headers, "", etag, last_modified)
    if failed:
        raise s3_error("PreconditionFailed", Condition=failed)
    if _failed_none_match(headers, "", etag, last_modified):
        return "not_modified"
    return None


_COPY = "x-amz-copy-source-"


def evaluate_copy_source_conditions(
    headers: Mapping[str, str], etag: str, last_modified: float
) -> None:
    """Apply `x-amz-copy-source-if-*` to the source object; any failure is 412.

    Same precedence as for reads: a matching if-match copies even when if-unmodified-since
    fails, and a failing if-none-match is 412 even when if-modified-since holds.
    """
    failed = _failed_match(headers, _COPY, etag, last_modified) or _failed_none_match(
        headers, _COPY, etag, last_modified
    )
    if failed:
        raise s3_error("PreconditionFailed", Condition=_COPY + failed.lower())


def parse_write_conditions(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(if_none_match, if_match) for a conditional PUT / CompleteMultipartUpload.

    S3 supports only `If-None-Match: *` on writes; other values are NotImplemented (501).
    `if_match` comes back as a bare ETag (or "*"); the meta process checks both atomically.
    """
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise s3_error(
                "NotImplemented",
                "If-None-Match on a write supports only '*'.",
                Header="If-None-Match",
            )
        if_none_match = "*"
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _etag_list(if_match)
        if len(tags) != 1 or not tags[0]:
            raise s3_error(
                "InvalidArgument",
                "If-Match on a write takes exactly one entity tag.",
                ArgumentName="If-Match",
                ArgumentValue=if_match[:256],
            )
        if_match = tags[0]
    return if_none_match, if_match


# --- stored headers and metadata ---------------------------------------------------------

STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
META_PREFIX = "x-amz-meta-"
MAX_USER_METADATA_BYTES = 2048


def extract_stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The standard headers S3 stores with an object and returns on GET/HEAD.

    `aws-chunked` is transfer framing, not a property of the object: it is removed from
    Content-Encoding, and the header dropped when nothing else is left.
    """
    stored: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "content-encoding":
            codings = [c.strip() for c in value.split(",")]
            value = ", ".join(c for c in codings if c and c.lower() != "aws-chunked")
            if not value:
                continue
        stored[name] = value
    return stored


def extract_user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """`x-amz-meta-*` headers as {lower-case name without prefix: value}.

    S3 limits user metadata to 2 KB, counted as the UTF-8 bytes of each name and value.
    """
    meta: dict[str, str] = {}
    total = 0
    for raw_name, value in headers.items():
        name = raw_name.lower()
        if not name.startswith(META_PREFIX):
            continue
        short = name[len(META_PREFIX) :]
        if not short:
            raise s3_error("InvalidArgument", "A metadata header name must not be empty.")
        total += len(short.encode()) + len(value.encode())
        meta[short] = value
    if total > MAX_USER_METADATA_BYTES:
        raise s3_error("MetadataTooLarge", Size=total, MaxSizeAllowed=MAX_USER_METADATA_BYTES)
    return meta


_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """GET's `response-*` query parameters as {header name: value}.

    S3 honours them only on authenticated requests; the caller checks that (an anonymous
    request that sends them gets InvalidRequest).
    """
    return {header: query[param] for param, header in _OVERRIDES.items() if param in query}


# --- listing parameters ------------------------------------------------------------------

MAX_KEYS = 1000
_TOKEN_VERSION = 1


def encode_token(after: str) -> str:
    """An opaque continuation token for a listing that resumes after the key `after`.

    URL-safe base64 of a version byte, the UTF-8 key and a CRC-32 of both: not a secret
    (StartAfter carries keys in the clear too), but a token that was cut or edited is caught.
    """
    body = bytes([_TOKEN_VERSION]) + after.encode()
    raw = body + zlib.crc32(body).to_bytes(4, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_token(token: str) -> str:
    """The key an `encode_token` token resumes after; InvalidArgument for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body, crc = raw[:-4], raw[-4:]
        if (
            len(raw) < 5
            or raw[0] != _TOKEN_VERSION
            or zlib.crc32(body).to_bytes(4, "big") != crc
            or len(body) - 1 > MAX_KEY_BYTES
        ):
            raise ValueError(token)
        return body[1:].decode()
    except (ValueError, binascii.Error):
        raise s3_error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token[:256],
        ) from None


def parse_max_keys(value: str | None) -> int:
    """`max-keys`: absent means 1,000; larger values are capped at 1,000 as S3 does."""
    if value is None:
        return MAX_KEYS
    if not value.isascii() or not value.isdigit():
        raise s3_error(
            "InvalidArgument",
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=value[:64],
        )
    return min(int(value), MAX_KEYS)


def parse_encoding_type(value: str | None) -> bool:
    """Whether `encoding-type=url` was asked for; any other value is InvalidArgument."""
    if value is None:
        return False
    if value.lower() != "url":
        raise s3_error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=value[:64],
        )
    return True


# --- copy source -------------------------------------------------------------------------


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """(bucket, key, version_id) of an `x-amz-copy-source` header.

    The value is `bucket/key` URL-encoded, an optional leading '/', and an optional
    `?versionId=...`. The query is split off before decoding, so an encoded '?' (%3F) stays
    part of the key.
    """

    def invalid(why: str) -> S3Error:
        return s3_error(
            "InvalidArgument",
            f"Invalid copy source: {why}",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value[:1100],
        )

    path, sep, query = value.partition("?")
    version_id: str | None = None
    if sep:
        name, eq, version = query.partition("=")
        if name != "versionId" or not eq or not version:
            raise invalid("the only query parameter allowed is a non-empty versionId")
        version_id = unquote(version)
    path = path.removeprefix("/")
    bucket, slash, encoded_key = path.partition("/")
    if not bucket or not slash or not encoded_key:
        raise invalid("it must name the source bucket and key as bucket/key")
    try:
        key = unquote(encoded_key, errors="strict")
        bucket = unquote(bucket, errors="strict")
    except UnicodeDecodeError:
        raise invalid("the key is not valid UTF-8 once URL-decoded") from None
    return bucket, key, version_id
