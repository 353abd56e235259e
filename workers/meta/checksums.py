"""The checksum of a multipart object, computed from its parts' checksums (no byte re-read).

S3 has two kinds (AWS "Checking object integrity", multipart uploads):
- COMPOSITE (crc32, crc32c, sha1, sha256): the algorithm applied to the concatenation of the
  parts' binary checksums, base64, then "-N" for N parts;
- FULL_OBJECT (crc32, crc32c, crc64nvme): the CRC of the whole object, base64 with no suffix.
  We get it by CRC combination: for CRCs whose init and final xor are all ones (all three),
  crc(A || B) = crc(A) * x^(8*len(B)) mod P  xor  crc(B)  (zlib's crc32_combine, generalised
  to any reflected polynomial and width).
Values are base64 of the big-endian digest, as on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Sequence
from functools import cache

import crc32c as _crc32c

from workers.meta.rules import error

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
CHECKSUM_TYPES = (COMPOSITE, FULL_OBJECT)
DIGEST_SIZES = {"crc32": 4, "crc32c": 4, "crc64nvme": 8, "sha1": 20, "sha256": 32}
# Which checksum types S3 supports for each algorithm; the first is the default.
SUPPORTED_TYPES = {
    "crc32": (COMPOSITE, FULL_OBJECT),
    "crc32c": (COMPOSITE, FULL_OBJECT),
    "crc64nvme": (FULL_OBJECT,),
    "sha1": (COMPOSITE,),
    "sha256": (COMPOSITE,),
}
# Reflected polynomials (width in bits, polynomial) of the CRCs that can be combined.
_CRC_POLYS = {
    "crc32": (32, 0xEDB88320),
    "crc32c": (32, 0x82F63B78),
    "crc64nvme": (64, 0x9A6C9329AC4BC9B5),
}


def decode(algorithm: str, value: str) -> bytes:
    """The binary digest of a stored or listed checksum; InvalidRequest if it is not one."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != DIGEST_SIZES.get(algorithm, -1):
        raise error("InvalidRequest", f"Value for x-amz-checksum-{algorithm} is invalid.")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _crc32c_bytes(data: bytes) -> bytes:
    value: int = _crc32c.crc32c(data)
    return value.to_bytes(4, "big")


_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "crc32c": _crc32c_bytes,
    "sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}


def composite(algorithm: str, part_values: Sequence[str]) -> str:
    """COMPOSITE checksum of an object from its parts' checksums, in part order."""
    if COMPOSITE not in SUPPORTED_TYPES.get(algorithm, ()):
        raise ValueError(f"{algorithm} has no composite multipart checksum")
    joined = b"".join(decode(algorithm, value) for value in part_values)
    return f"{_b64(_HASHES[algorithm](joined))}-{len(part_values)}"


def _multmodp(a: int, b: int, width: int, poly: int) -> int:
    """a(x) * b(x) mod P(x), bit-reflected (the top bit is x^0)."""
    m = 1 << (width - 1)
    product = 0
    while True:
        if a & m:
            product ^= b
            if a & (m - 1) == 0:
                return product
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1


@cache
def _x2n_table(width: int, poly: int) -> tuple[int, ...]:
    """x^(2^k) mod P for k = 0..66 (a byte length below 2^64 needs k up to 3 + 63)."""
    table = [1 << (width - 2)]  # x^1
    for _ in range(66):
        table.append(_multmodp(table[-1], table[-1], width, poly))
    return tuple(table)


def _shift(crc: int, length: int, width: int, poly: int) -> int:
    """crc * x^(8 * length) mod P: the CRC of a prefix moved past `length` more bytes."""
    if not 0 <= length < 2**64:
        raise ValueError(f"part length out of range: {length}")
    table = _x2n_table(width, poly)
    power = 1 << (width - 1)  # x^0
    n, k = length, 3  # 8 * length = length * 2^3
    while n:
        if n & 1:
            power = _multmodp(table[k], power, width, poly)
        n >>= 1
        k += 1
    return _multmodp(power, crc, width, poly)


def combine_crc(algorithm: str, crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC of A || B from CRC(A), CRC(B) and len(B)."""
    width, poly = _CRC_POLYS[algorithm]
    return _shift(crc_a, length_b, width, poly) ^ crc_b


def full_object(algorithm: str, parts: Sequence[tuple[str, int]]) -> str:
    """FULL_OBJECT checksum of an object from (part checksum, part size) in part order."""
    if algorithm not in _CRC_POLYS:
        raise ValueError(f"{algorithm} has no full-object multipart checksum")
    size = DIGEST_SIZES[algorithm]
    crc = 0  # the CRC of no bytes
    for value, length in parts:
        crc = combine_crc(algorithm, crc, int.from_bytes(decode(algorithm, value), "big"), length)
    return _b64(crc.to_bytes(size, "big"))


def upload_settings(
    algorithm: str | None, checksum_type: str | None
) -> tuple[str | None, str | None]:
    """The (algorithm, type) an upload records from CreateMultipartUpload's headers, the
    type defaulted per algorithm; InvalidRequest for an unknown or unsupported pairing."""
    if algorithm is None:
        if checksum_type is not None:
            raise error(
                "InvalidRequest",
                "The x-amz-checksum-type header can only be used with the"
                " x-amz-checksum-algorithm header.",
            )
        return None, None
    name = algorithm.lower()
    if name not in SUPPORTED_TYPES:
        raise error("InvalidRequest", f"Checksum algorithm {algorithm} is not supported.")
    if checksum_type is None:
        return name, SUPPORTED_TYPES[name][0]
    kind = checksum_type.upper()
    if kind not in CHECKSUM_TYPES:
        raise error("InvalidRequest", f"Value for x-amz-checksum-type {checksum_type} is invalid.")
    if kind not in SUPPORTED_TYPES[name]:
        raise error(
            "InvalidRequest",
            f"The {kind} checksum type cannot be used with the {name} checksum algorithm.",
        )
    return name, kind
