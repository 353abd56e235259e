"""Incremental, default-deny decoder of aws-chunked request bodies (signed, signed with trailer,
unsigned with trailer), verifying every chunk and trailer signature.

Wire format (AWS "Transferring Payload in Multiple Chunks" and "Including Trailing Headers"):
    hex-size[;chunk-signature=sig]\\r\\n data \\r\\n ... 0[;chunk-signature=sig]\\r\\n
    [trailer-name:value\\r\\n ...] [x-amz-trailer-signature:sig\\r\\n] \\r\\n
Decoded bytes are returned as they arrive, before their chunk's signature can be checked (the
signature covers the whole chunk): the caller must not commit anything until `finish()` returns.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from alexanderd.front.authtypes import (
    EMPTY_SHA256,
    STREAMING_MODES,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AuthError,
    SigningContext,
    payload_mode,
)

__all__ = [
    "CHECKSUM_TRAILERS",
    "MAX_LINE",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "ChunkedDecoder",
    "announced_trailers",
    "decoded_content_length",
    "payload_mode",
]

MAX_LINE = 4096  # a chunk header or trailer line, without its CRLF
TRAILER_SIGNATURE = "x-amz-trailer-signature"
CHECKSUM_TRAILERS = frozenset(
    f"x-amz-checksum-{name}" for name in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
)

_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE = re.compile(rb"[0-9a-f]{64}")
_TRAILER_NAME = re.compile(rb"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_SIG_PREFIX = b"chunk-signature="
_MALFORMED_TRAILER = (
    "The request contained trailing data that was not well-formed or did not conform to our "
    "published schema."
)

# Decoder states.
_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


def decoded_content_length(headers: Mapping[str, str]) -> int:
    """`x-amz-decoded-content-length`, which AWS requires on every aws-chunked request."""
    value = headers.get("x-amz-decoded-content-length")
    if value is None:
        raise AuthError(
            "MissingContentLength",
            "You must provide the x-amz-decoded-content-length header with an aws-chunked body.",
        )
    if not value.isascii() or not value.isdigit():
        raise AuthError(
            "InvalidArgument",
            "x-amz-decoded-content-length must be a non-negative integer",
            {"ArgumentName": "x-amz-decoded-content-length", "ArgumentValue": value[:64]},
        )
    return int(value)


def announced_trailers(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The trailers `x-amz-trailer` announces (lowercase); only x-amz-checksum-* are accepted."""
    value = headers.get("x-amz-trailer")
    if value is None or not value.strip():
        return ()
    names = tuple(name.strip().lower() for name in value.split(","))
    for name in names:
        if name not in CHECKSUM_TRAILERS:
            raise AuthError(
                "InvalidRequest",
                f"Unsupported trailer {name[:64]!r} in x-amz-trailer; only "
                f"{', '.join(sorted(CHECKSUM_TRAILERS))} may be sent as trailers.",
            )
    if len(set(names)) != len(names):
        raise AuthError("InvalidRequest", "x-amz-trailer names the same trailer twice.")
    return names


class ChunkedDecoder:
    """Feed raw body pieces of any size; get decoded payload pieces back.

    Memory is bounded by one header/trailer line (`MAX_LINE`) plus the piece being decoded. After
    the first error every further call raises that same error.
    """

    def __init__(
        self,
        mode: str,
        decoded_length: int | None,
        ctx: SigningContext | None,
        announced_trailers: Sequence[str],
    ) -> None:
        if mode not in STREAMING_MODES:
            raise ValueError(f"not an aws-chunked payload mode: {mode!r}")
        self._signed = mode != STREAMING_UNSIGNED_TRAILER
        self._with_trailer = mode != STREAMING_SIGNED
        self._mode = mode
        if self._signed and ctx is None:
            raise ValueError(f"{mode} needs the request's SigningContext")
        announced = frozenset(name.lower() for name in announced_trailers)
        if announced and not self._with_trailer:
            raise AuthError(
                "InvalidRequest",
                f"x-amz-trailer is not allowed with x-amz-content-sha256 {mode}; use a "
                "STREAMING-*-TRAILER mode to send trailing checksums.",
            )
        self._announced = announced
        self._decoded_length = decoded_length
        self._key = ctx.signing_key if ctx is not None else b""
        self._prev_sig = ctx.seed_signature.encode("ascii") if ctx is not None else b""
        self._chunk_prefix = b""
        self._trailer_prefix = b""
        if ctx is not None:
            # Everything before the previous signature is the same for every chunk.
            tail = f"\n{ctx.amz_date}\n{ctx.scope}\n".encode("ascii")
            self._chunk_prefix = b"AWS4-HMAC-SHA256-PAYLOAD" + tail
            self._trailer_prefix = b"AWS4-HMAC-SHA256-TRAILER" + tail
        self._state = _HEADER
        self._buf = bytearray()
        self._remaining = 0
        self._total = 0
        self._chunk_sig = b""
        self._hasher = hashlib.sha256()
        self._trailers: dict[str, str] = {}
        self._canonical_trailers = bytearray()
        self._trailer_signed = False
        self._error: AuthError | None = None

    @property
    def decoded_bytes(self) -> int:
        """Payload bytes returned so far."""
        return self._total - self._remaining

    def feed(self, data: bytes) -> list[bytes]:
        """Decode the next piece of the raw body; returns payload pieces (possibly none)."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except AuthError as exc:
            self._error = exc
            raise

    def finish(self) -> dict[str, str]:
        """Call at end of input: raises unless the body was complete; returns the trailers."""
        if self._error is not None:
            raise self._error
        if self._state != _DONE:
            self._error = AuthError(
                "IncompleteBody",
                f"The request body terminated unexpectedly (aws-chunked body cut off after "
                f"{self.decoded_bytes} decoded bytes).",
            )
            raise self._error
        if self._decoded_length is not None and self._total != self._decoded_length:
            self._error = AuthError(
                "IncompleteBody",
                f"The aws-chunked body decoded to {self._total} bytes but "
                f"x-amz-decoded-content-length is {self._decoded_length}.",
            )
            raise self._error
        return dict(self._trailers)

    def _feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        end = len(data)
        pos = 0
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = data if take == end else data[pos : pos + take]
                if self._signed:
                    self._hasher.update(piece)
                out.append(piece)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    if self._signed:
                        self._check_chunk_signature(self._hasher.hexdigest().encode("ascii"))
                    self._state = _DATA_END
            elif state == _DATA_END:
                pos = self._take_crlf(data, pos)
            elif state == _DONE:
                raise AuthError(
                    "InvalidRequest", "The aws-chunked body continues after its final chunk."
                )
            else:
                line, pos = self._take_line(data, pos)
                if line is None:
                    break
                if state == _HEADER:
                    self._on_chunk_header(line)
                else:
                    self._on_trailer_line(line)
        return out

    def _take_line(self, data: bytes, pos: int) -> tuple[bytes | None, int]:
        """The next CRLF-terminated line (without CRLF) and the new position, or None and the end
        of `data` when the line is still incomplete."""
        buf = self._buf
        if not buf:
            found = data.find(b"\r\n", pos, pos + MAX_LINE + 2)
            if found >= 0:
                return data[pos:found], found + 2
            rest = data[pos:]
            if len(rest) >= MAX_LINE + 2:
                raise self._line_too_long()
            buf += rest
            return None, len(data)
        already = len(buf)
        piece = data[pos : pos + MAX_LINE + 2 - already]
        buf += piece
        found = buf.find(b"\r\n", already - 1)
        if found >= 0:
            line = bytes(buf[:found])
            buf.clear()
            return line, pos + found + 2 - already
        if len(buf) >= MAX_LINE + 2:
            raise self._line_too_long()
        return None, pos + len(piece)

    def _take_crlf(self, data: bytes, pos: int) -> int:
        buf = self._buf
        piece = data[pos : pos + 2 - len(buf)]
        buf += piece
        if not b"\r\n".startswith(buf):
            raise AuthError(
                "InvalidRequest",
                "An aws-chunked chunk is longer than its announced size (no CRLF after its data).",
            )
        if len(buf) == 2:
            buf.clear()
            self._state = _HEADER
        return pos + len(piece)

    def _line_too_long(self) -> AuthError:
        what = "chunk header" if self._state == _HEADER else "trailer"
        return AuthError(
            "InvalidRequest" if self._state == _HEADER else "MalformedTrailerError",
            f"An aws-chunked {what} line is longer than {MAX_LINE} bytes or lacks its CRLF.",
        )

    def _on_chunk_header(self, line: bytes) -> None:
        size_field, semicolon, extension = line.partition(b";")
        if not _SIZE.fullmatch(size_field):
            raise AuthError(
                "InvalidRequest", f"Invalid aws-chunked chunk size {size_field[:32]!r}."
            )
        size = int(size_field, 16)
        if self._decoded_length is not None and self._total + size > self._decoded_length:
            raise AuthError(
                "InvalidRequest",
                f"The aws-chunked body is longer than x-amz-decoded-content-length "
                f"({self._decoded_length} bytes).",
            )
        if self._signed:
            signature = extension[len(_SIG_PREFIX) :]
            if not (
                semicolon and extension.startswith(_SIG_PREFIX) and _SIGNATURE.fullmatch(signature)
            ):
                raise AuthError(
                    "SignatureDoesNotMatch",
                    f"Every chunk of a {self._mode} body must carry chunk-signature=<64 hex>.",
                )
            self._chunk_sig = signature
            self._hasher = hashlib.sha256()
        elif semicolon:
            raise AuthError(
                "InvalidRequest",
                f"Chunk extensions (such as chunk-signature) are not allowed in a "
                f"{STREAMING_UNSIGNED_TRAILER} body.",
            )
        self._total += size
        if size:
            self._remaining = size
            self._state = _DATA
            return
        if self._signed:
            self._check_chunk_signature(EMPTY_SHA256.encode("ascii"))
        self._state = _TRAILER

    def _check_chunk_signature(self, data_hash: bytes) -> None:
        string_to_sign = b"%s%s\n%s\n%s" % (
            self._chunk_prefix,
            self._prev_sig,
            EMPTY_SHA256.encode("ascii"),
            data_hash,
        )
        expected = hmac.digest(self._key, string_to_sign, "sha256").hex().encode("ascii")
        if not hmac.compare_digest(expected, self._chunk_sig):
            raise AuthError(
                "SignatureDoesNotMatch",
                f"The chunk signature of the aws-chunked chunk ending at decoded byte "
                f"{self._total} does not match.",
            )
        self._prev_sig = expected

    def _on_trailer_line(self, line: bytes) -> None:
        if not line:
            self._end_of_trailers()
            return
        if self._trailer_signed:
            raise AuthError(
                "MalformedTrailerError",
                _MALFORMED_TRAILER,
                {"Reason": "a trailer follows x-amz-trailer-signature"},
            )
        raw_name, colon, raw_value = line.partition(b":")
        raw_name = raw_name.strip(b" \t")
        if not colon or not _TRAILER_NAME.fullmatch(raw_name):
            raise AuthError(
                "MalformedTrailerError", _MALFORMED_TRAILER, {"Reason": "not a name:value line"}
            )
        name = raw_name.decode("ascii").lower()
        value = raw_value.strip(b" \t")
        if name == TRAILER_SIGNATURE and self._signed and self._with_trailer:
            self._check_trailer_signature(value)
            return
        if name not in self._announced:
            raise AuthError(
                "MalformedTrailerError",
                _MALFORMED_TRAILER,
                {"Reason": f"trailer {name[:64]} was not announced in x-amz-trailer"},
            )
        if name in self._trailers:
            raise AuthError(
                "MalformedTrailerError", _MALFORMED_TRAILER, {"Reason": f"{name} sent twice"}
            )
        self._trailers[name] = value.decode("latin-1")
        self._canonical_trailers += b"%s:%s\n" % (name.encode("ascii"), value)

    def _check_trailer_signature(self, signature: bytes) -> None:
        string_to_sign = b"%s%s\n%s" % (
            self._trailer_prefix,
            self._prev_sig,
            hashlib.sha256(self._canonical_trailers).hexdigest().encode("ascii"),
        )
        expected = hmac.digest(self._key, string_to_sign, "sha256").hex().encode("ascii")
        if not hmac.compare_digest(expected, signature):
            raise AuthError(
                "SignatureDoesNotMatch", "The x-amz-trailer-signature of the body does not match."
            )
        self._trailer_signed = True

    def _end_of_trailers(self) -> None:
        missing = sorted(self._announced - self._trailers.keys())
        if missing:
            raise AuthError(
                "MalformedTrailerError",
                _MALFORMED_TRAILER,
                {"Reason": f"announced trailer {', '.join(missing)} is missing"},
            )
        if self._signed and self._with_trailer and not self._trailer_signed:
            raise AuthError(
                "SignatureDoesNotMatch",
                f"A {STREAMING_SIGNED_TRAILER} body must end with x-amz-trailer-signature.",
            )
        self._state = _DONE
