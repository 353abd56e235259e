"""Running digests of one upload body: MD5 (the ETag), SHA-256 (the content address) and the
S3 flexible checksums (crc32, crc32c, crc64nvme, sha1, sha256), computed in one pass.

S3 encodes every x-amz-checksum-* value as base64 of the big-endian digest; so do we.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable
from typing import Final, Protocol

import crc32c as _crc32c
from awscrt import checksums as _crt

from protocol.blob import CHECKSUM_ALGORITHMS
from protocol.errors import RemoteError

Buffer = bytes | bytearray | memoryview

# How S3 names each algorithm in messages ("The CRC32C you specified did not match ...").
DISPLAY_NAMES: Final[dict[str, str]] = {
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "crc64nvme": "CRC64NVME",
    "sha1": "SHA1",
    "sha256": "SHA256",
}
DIGEST_SIZES: Final[dict[str, int]] = {
    "crc32": 4,
    "crc32c": 4,
    "crc64nvme": 8,
    "sha1": 20,
    "sha256": 32,
}
assert set(DISPLAY_NAMES) == set(CHECKSUM_ALGORITHMS) == set(DIGEST_SIZES)


class _Digest(Protocol):
    def update(self, data: Buffer, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A CRC with the hashlib update/digest shape; the value is kept as an unsigned int."""

    __slots__ = ("_fn", "_mask", "_size", "_value")

    def __init__(self, fn: Callable[[Buffer, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._mask = (1 << (8 * size)) - 1
        self._value = 0

    def update(self, data: Buffer, /) -> None:
        self._value = self._fn(data, self._value) & self._mask

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def _crc32(data: Buffer, value: int) -> int:
    return zlib.crc32(data, value)


def _crc32c_fn(data: Buffer, value: int) -> int:
    result: int = _crc32c.crc32c(data, value)
    return result


def _crc64nvme(data: Buffer, value: int) -> int:
    # awscrt wants a bytes-like object it can borrow; memoryview and bytearray both qualify.
    result: int = _crt.crc64nvme(data, value)
    return result


def new_checksum(algorithm: str) -> _Digest:
    """A fresh running digest for one S3 checksum algorithm (lowercase S3 name)."""
    match algorithm:
        case "crc32":
            return _Crc(_crc32, 4)
        case "crc32c":
            return _Crc(_crc32c_fn, 4)
        case "crc64nvme":
            return _Crc(_crc64nvme, 8)
        case "sha1":
            return hashlib.sha1(usedforsecurity=False)
        case "sha256":
            return hashlib.sha256()
    raise RemoteError(
        f"Unsupported checksum algorithm {algorithm!r}; expected one of "
        f"{', '.join(CHECKSUM_ALGORITHMS)}.",
        code="InvalidRequest",
    )


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def decode_checksum(algorithm: str, value: str) -> bytes:
    """The digest a client declared for `algorithm`, or InvalidRequest if it is not one."""
    if algorithm not in DIGEST_SIZES:
        new_checksum(algorithm)  # raises the unsupported-algorithm error
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != DIGEST_SIZES[algorithm]:
        raise RemoteError(
            f"Value for x-amz-checksum-{algorithm} header is invalid.", code="InvalidRequest"
        )
    return raw


class BodyHasher:
    """Digests of one body, fed chunk by chunk in order.

    `update_md5` and `update_others` touch disjoint state, so two threads may feed the same
    chunk to both at once (hashlib and the CRC functions release the GIL); `update` does both.
    """

    def __init__(self, algorithms: Iterable[str] = ()) -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        names = list(dict.fromkeys(algorithms))
        for name in names:
            if name not in DIGEST_SIZES:
                new_checksum(name)  # raises the unsupported-algorithm error
        self.algorithms: tuple[str, ...] = tuple(names)
        # The address is a SHA-256 already: a requested sha256 checksum reuses it.
        self._extra = [(n, new_checksum(n)) for n in names if n != "sha256"]

    def update(self, data: Buffer) -> None:
        self._md5.update(data)
        self.update_others(data)

    def update_md5(self, data: Buffer) -> None:
        self._md5.update(data)

    def update_others(self, data: Buffer) -> None:
        self._sha256.update(data)
        for _, digest in self._extra:
            digest.update(data)
        self.size += len(data)

    def md5_digest(self) -> bytes:
        return self._md5.digest()

    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    def sha256_digest(self) -> bytes:
        return self._sha256.digest()

    def sha256_hex(self) -> str:
        return self._sha256.hexdigest()

    def checksum_digests(self) -> dict[str, bytes]:
        """Raw digest of every requested algorithm."""
        found = {name: digest.digest() for name, digest in self._extra}
        if "sha256" in self.algorithms:
            found["sha256"] = self._sha256.digest()
        return {name: found[name] for name in self.algorithms}

    def checksums(self) -> dict[str, str]:
        """Every requested algorithm's value as S3 sends it (base64 of the big-endian digest)."""
        return {name: b64(raw) for name, raw in self.checksum_digests().items()}
