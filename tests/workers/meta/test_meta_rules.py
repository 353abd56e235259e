"""Unit tests of the pure rules and the credential helpers."""

from __future__ import annotations

import re

import pytest

from protocol.errors import RemoteError
from workers.meta import credentials, rules


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a/", "a0"),
        ("abc", "abd"),
        ("é", "ê"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff\U0010ffff", None),
        ("", None),
        ("x\ud7ff", "x\ue000"),  # the next encodable code point skips the surrogates
    ],
)
def test_successor(prefix: str, expected: str | None) -> None:
    assert rules.successor(prefix) == expected


@pytest.mark.parametrize(
    "key", ["a/", "a/b", "a/\U0010ffff", "a/\U0010ffff\U0010ffff", "a/é", "a//"]
)
def test_successor_bounds_every_key_with_the_prefix(key: str) -> None:
    bound = rules.successor("a/")
    assert bound is not None
    assert key.encode() < bound.encode()
    assert bound.encode() <= b"a0"


def test_common_prefix() -> None:
    assert rules.common_prefix("a/b/c", "", "/") == "a/"
    assert rules.common_prefix("a/b/c", "a/", "/") == "a/b/"
    assert rules.common_prefix("a/b", "a/", "/") is None
    assert rules.common_prefix("x--y--z", "", "--") == "x--"
    assert rules.common_prefix("a/b", "", "") is None
    # The prefix itself may contain the delimiter: only what follows it counts.
    assert rules.common_prefix("a/b", "a/", "a") is None


def test_etag_matches() -> None:
    assert rules.etag_matches("abc", "abc")
    assert rules.etag_matches('"abc"', "abc")
    assert rules.etag_matches('W/"abc"', "abc")
    assert rules.etag_matches('"x", "abc"', "abc")
    assert rules.etag_matches("*", "anything")
    assert not rules.etag_matches('"abd"', "abc")


@pytest.mark.parametrize("name", ["abc", "a.b-c", "my-bucket-1", "x" * 63, "1bucket"])
def test_good_bucket_names(name: str) -> None:
    rules.check_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 64, "ABC", "a_b", "-ab", "ab-", "a..b", "10.0.0.1", "xn--abc", "abc-s3alias", ""],
)
def test_bad_bucket_names(name: str) -> None:
    with pytest.raises(RemoteError) as exc:
        rules.check_bucket_name(name)
    assert exc.value.error_code == "InvalidBucketName"


@pytest.mark.parametrize(
    ("acl", "anonymous", "other_user"),
    [
        ("private", "", ""),
        ("public-read", "r", "r"),
        ("public-read-write", "rw", "rw"),
        ("authenticated-read", "", "r"),
    ],
)
def test_access_table(acl: str, anonymous: str, other_user: str) -> None:
    owner = "o" * 64
    for principal, rights in ((None, anonymous), ("u" * 64, other_user)):
        assert rules.allowed(owner, acl, principal, "read") is ("r" in rights)
        assert rules.allowed(owner, acl, principal, "write") is ("w" in rights)
        assert not rules.allowed(owner, acl, principal, "owner")
    needs: tuple[rules.Access, ...] = ("read", "write", "owner")
    for need in needs:
        assert rules.allowed(owner, acl, owner, need)


def test_master_key_parsing() -> None:
    assert credentials.parse_master_key("ab" * 32) == bytes([0xAB]) * 32
    assert credentials.parse_master_key(" " + "AB" * 32 + "\n") == bytes([0xAB]) * 32
    for bad in ("", "ab" * 31, "zz" * 32, "ab" * 33):
        with pytest.raises(ValueError, match="64 hexadecimal"):
            credentials.parse_master_key(bad)


def test_ids_and_secrets_shapes() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", credentials.new_user_id())
    ids = {credentials.new_access_key_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"AK[A-Z0-9]{18}", i) for i in ids)
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", credentials.new_secret())


def test_secret_box() -> None:
    box = credentials.SecretBox(b"k" * 32)
    sealed = box.seal("AKID1", "s3cr3t")
    assert b"s3cr3t" not in sealed
    assert box.seal("AKID1", "s3cr3t") != sealed  # random nonce
    assert box.open("AKID1", sealed) == "s3cr3t"
    # The access key id is bound as associated data: a row copied to another key fails.
    with pytest.raises(RemoteError) as exc:
        box.open("AKID2", sealed)
    assert exc.value.error_code == "InternalError"
    with pytest.raises(RemoteError):
        credentials.SecretBox(b"j" * 32).open("AKID1", sealed)
    with pytest.raises(ValueError, match="32 bytes"):
        credentials.SecretBox(b"short")
