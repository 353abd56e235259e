"""Version ids and upload ids: opaque, URL-safe, and ordered by a monotonic clock.

Both are written in lowercase base32hex (0-9 a-v), whose character order equals numeric
order, so comparing ids as strings compares the stamps they start with:

    version id (32 chars) = 13 chars of (2**64 - 1 - stamp)  +  19 random chars
    upload id  (39 chars) = 13 chars of stamp                  +  26 random chars (130 bits)

A newer version therefore sorts first within its key, and uploads of one key sort by
initiation time, which is what ListMultipartUploads' upload-id-marker compares by.
"""

from __future__ import annotations

import secrets
import threading
import time

from workers.meta.rules import error

ALPHABET = "0123456789abcdefghijklmnopqrstuv"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
STAMP_CHARS = 13  # 65 bits: enough for any 64-bit stamp
VERSION_ID_LENGTH = 32
UPLOAD_ID_LENGTH = 39
NULL_VERSION = "null"
_MAX_STAMP = 2**64 - 1


class Clock:
    """Strictly increasing nanosecond stamps (never two equal, even within one tick), safe
    to call from any thread. `seed` raises the floor to a stamp already stored."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def seed(self, stamp: int) -> None:
        with self._lock:
            self._last = max(self._last, stamp)

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last


def encode(value: int, width: int) -> str:
    if not 0 <= value < 32**width:
        raise ValueError(f"{value} does not fit in {width} base32 characters")
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + _VALUE[char]
    return value


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_version_id(stamp: int) -> str:
    return encode(_MAX_STAMP - stamp, STAMP_CHARS) + _random(VERSION_ID_LENGTH - STAMP_CHARS)


def new_upload_id(stamp: int) -> str:
    return encode(stamp, STAMP_CHARS) + _random(UPLOAD_ID_LENGTH - STAMP_CHARS)


def _well_formed(value: str, length: int) -> bool:
    return len(value) == length and all(char in _VALUE for char in value)


def is_version_id(value: str) -> bool:
    """True for "null" and for ids this store can have generated."""
    return value == NULL_VERSION or _well_formed(value, VERSION_ID_LENGTH)


def check_version_id(value: str) -> None:
    """InvalidArgument for a version id that no version can have (AWS's answer to one)."""
    if not is_version_id(value):
        raise error("InvalidArgument", "Invalid version id specified")


def version_stamp(version_id: str) -> int:
    """The clock stamp a generated (not "null") version id was made from."""
    if not _well_formed(version_id, VERSION_ID_LENGTH):
        raise ValueError(f"not a generated version id: {version_id!r}")
    return _MAX_STAMP - decode(version_id[:STAMP_CHARS])


def is_upload_id(value: str) -> bool:
    return _well_formed(value, UPLOAD_ID_LENGTH)
