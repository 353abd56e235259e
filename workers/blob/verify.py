"""What a client declared about an upload body, validated up front and checked against the
digests we computed, with the error codes and messages S3 uses.

Order of the final checks: size (IncompleteBody), x-amz-content-sha256 (part of the SigV4
signature), Content-MD5, then each x-amz-checksum-* from the headers and from the trailer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

from protocol.blob import PutBlob
from protocol.errors import ProtocolError, RemoteError
from workers.blob.checksum import DISPLAY_NAMES, BodyHasher, b64, decode_checksum

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
INCOMPLETE_BODY = (
    "You did not provide the number of bytes specified by the Content-Length HTTP header."
)


def _content_md5(value: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        raise RemoteError("The Content-MD5 you specified is not valid.", code="InvalidDigest")
    return raw


def _content_sha256(value: str) -> str:
    if _HEX64.fullmatch(value) is None:
        raise RemoteError(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
            "or a valid sha256 value.",
            code="InvalidArgument",
        )
    return value.lower()


class Expectations:
    """The parsed declarations of one PutBlob; constructing it rejects malformed values."""

    def __init__(self, put: PutBlob) -> None:
        if put.expected_size is not None and put.expected_size < 0:
            raise ProtocolError(f"PutBlob.expected_size is negative ({put.expected_size})")
        self.size = put.expected_size
        self.md5 = None if put.content_md5 is None else _content_md5(put.content_md5)
        self.sha256 = None if put.content_sha256 is None else _content_sha256(put.content_sha256)
        self.checksums = {
            name: decode_checksum(name, value) for name, value in put.expected_checksums.items()
        }
        # A header value implies its algorithm is computed even if the front forgot to ask.
        self.algorithms = tuple(dict.fromkeys([*put.checksum_algorithms, *self.checksums]))
        BodyHasher(self.algorithms)  # rejects an unsupported algorithm name now, not at the end

    def check_running_size(self, received: int) -> None:
        """Fail as soon as a body runs past its announced size (before writing the excess)."""
        if self.size is not None and received > self.size:
            raise _incomplete(self.size, received)

    def verify(self, hasher: BodyHasher, trailer: dict[str, str]) -> None:
        """Raise the S3 error for the first declared value the body does not match."""
        if self.size is not None and hasher.size != self.size:
            raise _incomplete(self.size, hasher.size)
        if self.sha256 is not None and self.sha256 != hasher.sha256_hex():
            raise RemoteError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                {
                    "ClientComputedContentSHA256": self.sha256,
                    "S3ComputedContentSHA256": hasher.sha256_hex(),
                },
                code="XAmzContentSHA256Mismatch",
            )
        if self.md5 is not None and not hmac.compare_digest(self.md5, hasher.md5_digest()):
            raise RemoteError(
                "The Content-MD5 you specified did not match what we received.",
                {"ExpectedDigest": self.md5.hex(), "CalculatedDigest": b64(hasher.md5_digest())},
                code="BadDigest",
            )
        computed = hasher.checksum_digests()
        declared = [*self.checksums.items()]
        for name, value in trailer.items():
            if name not in computed:
                raise RemoteError(
                    f"The trailer carries x-amz-checksum-{name}, which the request did not "
                    "declare in x-amz-trailer or x-amz-sdk-checksum-algorithm.",
                    code="InvalidRequest",
                )
            declared.append((name, decode_checksum(name, value)))
        for name, raw in declared:
            if not hmac.compare_digest(raw, computed[name]):
                raise RemoteError(
                    f"The {DISPLAY_NAMES[name]} you specified did not match the calculated "
                    "checksum.",
                    code="BadDigest",
                )


def _incomplete(expected: int, received: int) -> RemoteError:
    return RemoteError(
        INCOMPLETE_BODY,
        {"ExpectedSize": str(expected), "ReceivedSize": str(received)},
        code="IncompleteBody",
    )
