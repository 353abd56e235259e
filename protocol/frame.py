"""Frame layout on every inter-process stream.

    0      2         3        4                8
    +------+---------+--------+----------------+----------------
    | "AX" | version |  kind  | length (u32 BE)| payload ...
    +------+---------+--------+----------------+----------------

kind MSG carries one msgpack-encoded message, DATA carries raw bulk bytes (never inside a
Struct: that costs 3x throughput), END closes a run of DATA frames. Payloads above
MAX_PAYLOAD are refused before any byte of them is read, so a peer cannot make us allocate.
"""

from __future__ import annotations

import enum
import struct

from protocol.errors import ProtocolError

MAGIC = b"AX"
VERSION = 1
HEADER = struct.Struct(">2sBBI")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 16 * 1024 * 1024
# Bulk bodies are cut in pieces of this size: large enough that per-frame overhead
# vanishes, small enough to keep a worker's memory flat under concurrency.
DATA_CHUNK = 1024 * 1024


class Kind(enum.IntEnum):
    MSG = 1
    DATA = 2
    END = 3


def pack_header(kind: Kind, length: int) -> bytes:
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_PAYLOAD}-byte cap")
    return HEADER.pack(MAGIC, VERSION, kind, length)


def unpack_header(raw: bytes) -> tuple[Kind, int]:
    """Validate a header and return (kind, payload length); raise ProtocolError if bad."""
    if len(raw) != HEADER_SIZE:
        raise ProtocolError(f"truncated frame header ({len(raw)} of {HEADER_SIZE} bytes)")
    magic, version, kind, length = HEADER.unpack(raw)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame magic {magic!r}")
    if version != VERSION:
        raise ProtocolError(f"unsupported frame version {version}")
    try:
        k = Kind(kind)
    except ValueError:
        raise ProtocolError(f"unknown frame kind {kind}") from None
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_PAYLOAD}-byte cap")
    if k is Kind.END and length:
        raise ProtocolError("END frame with a payload")
    return k, length
