"""Pure S3 request/response helpers: dates, names, ranges, conditionals, headers, tokens."""

from __future__ import annotations

import base64
from urllib.parse import quote, unquote, unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alexanderd.front.errors import S3Error
from alexanderd.front.s3types import (
    DEFAULT_CONTENT_TYPE,
    STORED_HEADERS,
    decode_token,
    encode_token,
    etag_matches,
    evaluate_copy_source_conditions,
    evaluate_read_conditions,
    extract_stored_headers,
    extract_user_metadata,
    http_date,
    iso8601_ms,
    parse_copy_source,
    parse_encoding_type,
    parse_http_date,
    parse_max_keys,
    parse_range,
    parse_write_conditions,
    response_overrides,
    url_encode_key,
    validate_bucket_name,
    validate_key,
)

RFC_EXAMPLE = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC 7231 example

# --- dates -------------------------------------------------------------------------------


def test_http_date_is_imf_fixdate() -> None:
    assert http_date(RFC_EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(RFC_EXAMPLE + 0.999) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
        "sun, 06 nov 1994 08:49:37 GMT",
    ],
)
def test_parse_http_date_accepts_the_three_rfc_forms(text: str) -> None:
    assert parse_http_date(text) == RFC_EXAMPLE


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-01-01T00:00:00Z",
        "Sun, 06 Nov 1994 08:49:37 +0100",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Tue, 31 Feb 1995 08:49:37 GMT",
    ],
)
def test_parse_http_date_rejects_other_text(text: str) -> None:
    assert parse_http_date(text) is None


@given(st.integers(min_value=0, max_value=253402300799))
def test_http_date_round_trips(epoch: int) -> None:
    assert parse_http_date(http_date(epoch)) == epoch


def test_iso8601_ms() -> None:
    assert iso8601_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso8601_ms(1700000000.123) == "2023-11-14T22:13:20.123Z"
    assert iso8601_ms(1.9999) == "1970-01-01T00:00:02.000Z"
    assert iso8601_ms(1795896000) == "2026-11-28T20:00:00.000Z"


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["abc", "my-bucket", "my.bucket.name", "a" * 63, "0bucket9", "bucket-1.2.3"]
)
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "between 3 and 63"),
        ("a" * 64, "between 3 and 63"),
        ("MyBucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "begin and end"),
        ("bucket-", "begin and end"),
        (".bucket", "begin and end"),
        ("my..bucket", "adjacent periods"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "'xn--'"),
        ("sthree-bucket", "'sthree-'"),
        ("amzn-s3-demo-bucket", "'amzn-s3-demo-'"),
        ("bucket-s3alias", "'-s3alias'"),
        ("bucket--ol-s3", "'--ol-s3'"),
        ("bucket.mrap", "'.mrap'"),
        ("bucket--x-s3", "'--x-s3'"),
        ("bucket--table-s3", "'--table-s3'"),
        ("bücket", "lowercase"),
    ],
)
def test_invalid_bucket_names(name: str, why: str) -> None:
    with pytest.raises(S3Error) as info:
        validate_bucket_name(name)
    assert info.value.code == "InvalidBucketName"
    assert info.value.status == 400
    assert why in info.value.message
    assert info.value.extra == {"BucketName": name}


@pytest.mark.parametrize(
    "key", ["k", "../etc/passwd", "//double", "/leading", "100% + spaces", "ü" * 512, "a" * 1024]
)
def test_valid_keys(key: str) -> None:
    validate_key(key)


def test_key_over_1024_bytes_is_too_long() -> None:
    with pytest.raises(S3Error) as info:
        validate_key("é" * 513)  # 1,026 UTF-8 bytes in 513 characters
    assert info.value.code == "KeyTooLongError"
    assert info.value.extra == {"Size": "1026", "MaxSizeAllowed": "1024"}


def test_empty_and_non_utf8_keys_are_invalid() -> None:
    with pytest.raises(S3Error, match="must not be empty"):
        validate_key("")
    with pytest.raises(S3Error, match="not valid UTF-8") as info:
        validate_key("bad\udc80")
    assert info.value.code == "InvalidArgument"


def test_url_encode_key_matches_aws_examples() -> None:
    assert url_encode_key("test_file(3).png") == "test_file%283%29.png"
    assert url_encode_key("dir/a b+c") == "dir/a%20b%2Bc"
    assert url_encode_key("ctl\x01\n") == "ctl%01%0A"
    assert url_encode_key("ü") == "%C3%BC"


@given(st.text())
def test_url_encoded_keys_decode_back_with_either_decoder(key: str) -> None:
    encoded = url_encode_key(key)
    assert encoded.isascii()
    assert unquote_plus(encoded) == key
    assert unquote(encoded) == key


# --- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 4)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=0-100", 10, (0, 9)),
        ("bytes=9-9", 10, (9, 9)),
        ("Bytes = 2 - 3", 10, (2, 3)),
        ("bytes=0-0", 1, (0, 0)),
        ("bytes=-5", 0, None),  # a suffix of an empty object is the whole (empty) object
        ("bytes=0-1,3-4", 10, None),  # several ranges: S3 serves the whole object
        ("bytes=5-2", 10, None),  # last < first is invalid syntax: ignored
        ("bytes=-", 10, None),
        ("bytes=a-b", 10, None),
        ("items=0-4", 10, None),
        ("0-4", 10, None),
        ("", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=0-", 0), ("bytes=-0", 10)]
)
def test_unsatisfiable_range_is_416(header: str, size: int) -> None:
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    assert (info.value.code, info.value.status) == ("InvalidRange", 416)
    assert info.value.extra["ActualObjectSize"] == str(size)
    assert info.value.extra["RangeRequested"] == header


# --- conditionals ------------------------------------------------------------------------

ETAG = "9bb58f26192e4ba00f01e2e7b136bbd8"
LM = RFC_EXAMPLE + 0.5  # stored with milliseconds; Last-Modified shows whole seconds
BEFORE = "Sat, 05 Nov 1994 08:49:37 GMT"
AT = "Sun, 06 Nov 1994 08:49:37 GMT"
AFTER = "Mon, 07 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (f'"{ETAG}"', True),
        (ETAG, True),
        (f'W/"{ETAG}"', True),
        (f'"other", "{ETAG}"', True),
        (f'"other",W/"{ETAG}" ', True),
        ("*", True),
        ('"other"', False),
        ("", False),
        (f'"{ETAG}x"', False),
    ],
)
def test_etag_matches(header: str, matches: bool) -> None:
    assert etag_matches(header, ETAG) is matches
    assert etag_matches(header, f'"{ETAG}"') is matches


@pytest.mark.parametrize(
    ("headers", "outcome"),
    [
        ({}, None),
        ({"if-match": f'"{ETAG}"'}, None),
        ({"if-match": '"other"'}, "If-Match"),
        ({"if-unmodified-since": AT}, None),
        ({"if-unmodified-since": AFTER}, None),
        ({"if-unmodified-since": BEFORE}, "If-Unmodified-Since"),
        ({"if-unmodified-since": "not a date"}, None),
        # Documented by S3: If-Match true and If-Unmodified-Since false -> 200.
        ({"if-match": ETAG, "if-unmodified-since": BEFORE}, None),
        ({"if-none-match": '"other"'}, None),
        ({"if-none-match": f'"{ETAG}"'}, "not_modified"),
        ({"if-none-match": "*"}, "not_modified"),
        ({"if-modified-since": BEFORE}, None),
        ({"if-modified-since": AT}, "not_modified"),
        ({"if-modified-since": AFTER}, "not_modified"),
        ({"if-modified-since": "garbage"}, None),
        # Documented by S3: If-None-Match false and If-Modified-Since true -> 304.
        ({"if-none-match": ETAG, "if-modified-since": BEFORE}, "not_modified"),
        # If-None-Match true means If-Modified-Since is not consulted (RFC 7232 step 3).
        ({"if-none-match": '"other"', "if-modified-since": AFTER}, None),
        # A failing If-Match is 412 even when If-None-Match would give 304.
        ({"if-match": '"other"', "if-none-match": ETAG}, "If-Match"),
    ],
)
def test_evaluate_read_conditions(headers: dict[str, str], outcome: str | None) -> None:
    if outcome in ("If-Match", "If-Unmodified-Since"):
        with pytest.raises(S3Error) as info:
            evaluate_read_conditions(headers, ETAG, LM)
        assert (info.value.code, info.value.status) == ("PreconditionFailed", 412)
        assert info.value.extra == {"Condition": outcome}
    else:
        assert evaluate_read_conditions(headers, ETAG, LM) == outcome


C = "x-amz-copy-source-"


@pytest.mark.parametrize(
    ("headers", "failed"),
    [
        ({}, None),
        ({C + "if-match": ETAG}, None),
        ({C + "if-match": "other"}, "if-match"),
        ({C + "if-unmodified-since": BEFORE}, "if-unmodified-since"),
        ({C + "if-match": ETAG, C + "if-unmodified-since": BEFORE}, None),
        ({C + "if-none-match": ETAG}, "if-none-match"),
        ({C + "if-none-match": "other"}, None),
        ({C + "if-modified-since": AFTER}, "if-modified-since"),
        ({C + "if-modified-since": BEFORE}, None),
        ({C + "if-none-match": ETAG, C + "if-modified-since": BEFORE}, "if-none-match"),
        ({"if-match": "other"}, None),  # plain conditionals are about the destination
    ],
)
def test_copy_source_conditions_fail_with_412(headers: dict[str, str], failed: str | None) -> None:
    if failed is None:
        evaluate_copy_source_conditions(headers, ETAG, LM)
        return
    with pytest.raises(S3Error) as info:
        evaluate_copy_source_conditions(headers, ETAG, LM)
    assert info.value.status == 412
    assert info.value.extra == {"Condition": C + failed}


def test_parse_write_conditions() -> None:
    assert parse_write_conditions({}) == (None, None)
    assert parse_write_conditions({"if-none-match": " * "}) == ("*", None)
    assert parse_write_conditions({"if-match": f'"{ETAG}"'}) == (None, ETAG)
    assert parse_write_conditions({"if-match": "*"}) == (None, "*")
    with pytest.raises(S3Error) as info:
        parse_write_conditions({"if-none-match": f'"{ETAG}"'})
    assert (info.value.code, info.value.status) == ("NotImplemented", 501)
    with pytest.raises(S3Error) as info:
        parse_write_conditions({"if-match": '"a", "b"'})
    assert info.value.code == "InvalidArgument"


# --- stored headers and metadata ---------------------------------------------------------


def test_extract_stored_headers_strips_aws_chunked() -> None:
    headers = {
        "content-type": "text/plain",
        "content-encoding": "aws-chunked, gzip",
        "cache-control": "no-cache",
        "expires": "Thu, 01 Dec 1994 16:00:00 GMT",
        "content-disposition": 'attachment; filename="a.txt"',
        "content-language": "en",
        "x-amz-meta-a": "1",
        "content-length": "5",
    }
    assert extract_stored_headers(headers) == {
        "content-type": "text/plain",
        "content-encoding": "gzip",
        "cache-control": "no-cache",
        "expires": "Thu, 01 Dec 1994 16:00:00 GMT",
        "content-disposition": 'attachment; filename="a.txt"',
        "content-language": "en",
    }
    assert extract_stored_headers({"content-encoding": "AWS-CHUNKED"}) == {}
    assert set(STORED_HEADERS) >= set(extract_stored_headers(headers))
    assert DEFAULT_CONTENT_TYPE == "binary/octet-stream"


def test_extract_user_metadata_lowercases_and_strips_prefix() -> None:
    headers = {"X-Amz-Meta-Color": "blue", "x-amz-meta-size": "", "x-amz-acl": "private"}
    assert extract_user_metadata(headers) == {"color": "blue", "size": ""}


def test_user_metadata_limit_is_2kb_of_names_and_values() -> None:
    at_limit = {"x-amz-meta-k": "v" * 2047}
    assert extract_user_metadata(at_limit) == {"k": "v" * 2047}
    with pytest.raises(S3Error) as info:
        extract_user_metadata({"x-amz-meta-k": "v" * 2048})
    assert info.value.code == "MetadataTooLarge"
    assert info.value.extra == {"Size": "2049", "MaxSizeAllowed": "2048"}


def test_empty_metadata_name_is_invalid() -> None:
    with pytest.raises(S3Error, match="must not be empty"):
        extract_user_metadata({"x-amz-meta-": "v"})


def test_response_overrides() -> None:
    query = {
        "response-content-type": "text/html",
        "response-content-disposition": "inline",
        "response-cache-control": "max-age=1",
        "response-expires": "0",
        "response-content-language": "fr",
        "response-content-encoding": "br",
        "versionId": "x",
    }
    assert response_overrides(query) == {
        "content-type": "text/html",
        "content-disposition": "inline",
        "cache-control": "max-age=1",
        "expires": "0",
        "content-language": "fr",
        "content-encoding": "br",
    }
    assert response_overrides({}) == {}


# --- listing parameters ------------------------------------------------------------------


@given(st.text(max_size=300).filter(lambda s: len(s.encode("utf-8", "replace")) <= 1024))
def test_tokens_round_trip(after: str) -> None:
    after = after.encode("utf-8", "replace").decode()
    token = encode_token(after)
    assert token.isascii()
    assert quote(token, safe="") == token  # safe in a query string and in XML as is
    assert decode_token(token) == after


def _forge(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 !!",
        "abc",
        encode_token("key")[:-2],
        encode_token("key")[:-1] + ("A" if encode_token("key")[-1] != "A" else "B"),
        _forge(b"\x01key\x00\x00\x00\x00"),  # checksum does not match
        _forge(b"\x02" + encode_token("key").encode()),
        "A" * 2000,
    ],
)
def test_bad_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(S3Error) as info:
        decode_token(token)
    assert info.value.code == "InvalidArgument"
    assert info.value.message == "The continuation token provided is incorrect"


def test_parse_max_keys() -> None:
    assert parse_max_keys(None) == 1000
    assert parse_max_keys("0") == 0
    assert parse_max_keys("17") == 17
    assert parse_max_keys("5000") == 1000
    for bad in ("-1", "abc", "", "1.5", "٣"):
        with pytest.raises(S3Error, match="max-keys"):
            parse_max_keys(bad)


def test_parse_encoding_type() -> None:
    assert parse_encoding_type(None) is False
    assert parse_encoding_type("url") is True
    assert parse_encoding_type("URL") is True
    with pytest.raises(S3Error, match="Invalid Encoding Method"):
        parse_encoding_type("base64")


# --- copy source -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bucket/key", ("bucket", "key", None)),
        ("/bucket/key", ("bucket", "key", None)),
        ("bucket/dir/sub/key.txt", ("bucket", "dir/sub/key.txt", None)),
        ("bucket/a%20b%2Bc", ("bucket", "a b+c", None)),
        ("bucket/a+b", ("bucket", "a+b", None)),
        ("bucket/what%3F", ("bucket", "what?", None)),
        ("bucket/%C3%BC", ("bucket", "ü", None)),
        ("bucket//leading", ("bucket", "/leading", None)),
        ("bucket/key?versionId=3HL4kqtJlcpXroDTDmJ", ("bucket", "key", "3HL4kqtJlcpXroDTDmJ")),
        ("/bucket/k%3Fx?versionId=null", ("bucket", "k?x", "null")),
    ],
)
def test_parse_copy_source(value: str, expected: tuple[str, str, str | None]) -> None:
    assert parse_copy_source(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "/",
        "bucket",
        "bucket/",
        "/bucket",
        "bucket/key?versionId=",
        "bucket/key?foo=bar",
        "bucket/key?versionId",
        "bucket/%FF",
    ],
)
def test_invalid_copy_source(value: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_copy_source(value)
    assert info.value.code == "InvalidArgument"
    assert info.value.extra["ArgumentName"] == "x-amz-copy-source"
