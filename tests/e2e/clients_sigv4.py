"""A raw S3 client for end-to-end tests: our own SigV4 signer over http.client.

Written from AWS's "Signature Version 4 signing process" and "Signature Calculations for the
Authorization Header: Transferring Payload in Multiple Chunks" (and its trailing-header sibling),
independently of the server's signer, so that a shared misreading of the spec cannot hide. Nothing
here fixes requests up: tests choose every header, byte and signature, including broken ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ssl
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def uri_encode(value: str, keep_slash: bool = False) -> str:
    """AWS UriEncode: only A-Za-z0-9-_.~ stay bare; '/' too in object key paths."""
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def derive_signing_key(secret: str, date: str, region: str = REGION) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def amz_date(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str = REGION


@dataclass
class Signed:
    """What the signer produced: the seed of an aws-chunked signature chain comes from here."""

    headers: dict[str, str]
    signature: str
    amz_date: str
    scope: str
    signing_key: bytes


def _canonical_query(query: Iterable[tuple[str, str]]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def _string_to_sign(date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"AWS4-HMAC-SHA256\n{date}\n{scope}\n{digest}"


def sign(
    creds: Credentials,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    when: datetime | None = None,
) -> Signed:
    """Sign with an Authorization header; `path` is the encoded path exactly as sent on the wire.

    Every header given is signed (Host must be among them); `payload_hash` is put in
    x-amz-content-sha256 and signed as the canonical request's last line."""
    date = amz_date(when)
    scope = f"{date[:8]}/{creds.region}/s3/aws4_request"
    out = dict(headers)
    out["x-amz-date"] = date
    out["x-amz-content-sha256"] = payload_hash
    lower = {k.lower(): " ".join(v.strip().split()) for k, v in out.items()}
    names = sorted(lower)
    canonical = "\n".join(
        [
            method,
            path,
            _canonical_query(query),
            "".join(f"{n}:{lower[n]}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    key = derive_signing_key(creds.secret_key, date[:8], creds.region)
    signature = hmac.new(key, _string_to_sign(date, scope, canonical).encode(), "sha256")
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature.hexdigest()}"
    )
    return Signed(out, signature.hexdigest(), date, scope, key)


def _chunk_frames(
    data: bytes, chunk_size: int, seed: Signed, tamper_chunk: int | None
) -> tuple[list[bytes], str]:
    """Each chunk's `size;chunk-signature=...CRLF` + data (no closing CRLF), chained from the seed,
    the last one empty; and the final chunk's signature (a trailer's signature chains from it)."""
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    previous, frames = seed.signature, []
    for index, piece in enumerate(pieces):
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                seed.amz_date,
                seed.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(piece).hexdigest(),
            ]
        )
        signature = hmac.new(seed.signing_key, to_sign.encode(), "sha256").hexdigest()
        sent = signature
        if index == tamper_chunk:
            sent = ("0" if signature[0] != "0" else "1") + signature[1:]
        frames.append(f"{len(piece):x};chunk-signature={sent}\r\n".encode() + piece)
        previous = signature
    return frames, previous


def signed_chunks(
    data: bytes, chunk_size: int, seed: Signed, tamper_chunk: int | None = None
) -> bytes:
    """An aws-chunked body for STREAMING-AWS4-HMAC-SHA256-PAYLOAD, each chunk signed in chain.

    `tamper_chunk` flips one hex digit of that chunk's signature (the chain continues from the
    correct value, so exactly one signature is wrong)."""
    frames, _ = _chunk_frames(data, chunk_size, seed, tamper_chunk)
    return b"".join(frame + b"\r\n" for frame in frames)


def signed_trailer_chunks(
    data: bytes,
    chunk_size: int,
    seed: Signed,
    trailer: tuple[str, str],
    sent_value: str | None = None,
) -> bytes:
    """An aws-chunked body for STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, then
    one trailing header and `x-amz-trailer-signature` over `name:value\n`, chained from the final
    chunk's signature. `sent_value` replaces the value on the wire after signing (tampering)."""
    frames, previous = _chunk_frames(data, chunk_size, seed, None)
    name, value = trailer
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            seed.amz_date,
            seed.scope,
            previous,
            hashlib.sha256(f"{name}:{value}\n".encode()).hexdigest(),
        ]
    )
    signature = hmac.new(seed.signing_key, to_sign.encode(), "sha256").hexdigest()
    body = b"".join(frame + b"\r\n" for frame in frames[:-1]) + frames[-1]
    shown = value if sent_value is None else sent_value
    return body + f"{name}:{shown}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode()


def signed_chunks_length(size: int, chunk_size: int) -> int:
    """The byte length `signed_chunks` produces for `size` payload bytes (the Content-Length)."""
    sizes = [min(chunk_size, size - i) for i in range(0, size, chunk_size)] + [0]
    frame = len(";chunk-signature=") + 64 + 4  # signature plus two CRLFs
    return sum(len(f"{n:x}") + frame + n for n in sizes)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def unsigned_trailer_chunks(data: bytes, chunk_size: int, trailer: tuple[str, str]) -> bytes:
    """An aws-chunked body for STREAMING-UNSIGNED-PAYLOAD-TRAILER ending in one trailing header."""
    out = bytearray()
    for i in range(0, len(data), chunk_size):
        piece = data[i : i + chunk_size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += f"0\r\n{trailer[0]}:{trailer[1]}\r\n\r\n".encode()
    return bytes(out)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def error(self) -> dict[str, str]:
        """The <Error> document's children by tag; asserts the body is one."""
        assert self.body, f"HTTP {self.status} with an empty body; expected an S3 <Error>"
        root = ElementTree.fromstring(self.body)
        assert root.tag == "Error", f"not an <Error> document: {self.body[:500]!r}"
        return {child.tag: child.text or "" for child in root}

    def code(self) -> str:
        return self.error().get("Code", "")

    def assert_error(self, status: int, code: str) -> dict[str, str]:
        """Status and AWS code as expected, and the request id in both header and body."""
        detail = f"HTTP {self.status}: {self.body[:600]!r}"
        assert self.status == status, f"expected {status} {code}; got {detail}"
        rid = self.header("x-amz-request-id")
        assert rid, f"no x-amz-request-id header; {detail}"
        error = self.error()
        assert error.get("Code") == code, f"expected {code}; got {detail}"
        assert error.get("RequestId") == rid, f"RequestId {error.get('RequestId')!r} != {rid!r}"
        assert error.get("Message"), f"no Message; {detail}"
        return error


@dataclass
class RawClient:
    """http.client pointed at one daemon endpoint; signs with `creds` unless told not to."""

    endpoint: str
    creds: Credentials | None
    ca_file: Path | None = None
    timeout: float = 60.0
    default_headers: dict[str, str] = field(default_factory=dict)

    @property
    def netloc(self) -> str:
        return urlsplit(self.endpoint).netloc

    def connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.endpoint)
        host, port = parts.hostname or "127.0.0.1", parts.port
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        query: Iterable[tuple[str, str]] = (),
        *,
        sign_request: bool = True,
        payload_hash: str | None = None,
        host: str | None = None,
        when: datetime | None = None,
        creds: Credentials | None = None,
    ) -> RawResponse:
        """Send one request; `path` is already encoded (use `object_path`)."""
        query = list(query)
        hdrs = {"Host": host or self.netloc, **self.default_headers, **(headers or {})}
        use = creds or self.creds
        if sign_request:
            assert use is not None, "signing needs credentials"
            digest = payload_hash or hashlib.sha256(body).hexdigest()
            hdrs = sign(use, method, path, query, hdrs, digest, when).headers
        target = path + ("?" + _canonical_query(query) if query else "")
        conn = self.connection()
        try:
            # skip_host: the Host header is ours (it is signed, and vhost tests change it).
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in hdrs.items():
                conn.putheader(name, value)
            if "content-length" not in {n.lower() for n in hdrs} and (
                body or method in ("PUT", "POST")
            ):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()


def flip_signature(url: str) -> str:
    """The same presigned URL with the last hex digit of X-Amz-Signature changed."""
    marker = "X-Amz-Signature="
    start = url.index(marker) + len(marker)
    end = start + 64
    sig = url[start:end]
    return url[: end - 1] + ("0" if sig[-1] != "0" else "1") + url[end:]


def object_path(bucket: str, key: str = "") -> str:
    return f"/{bucket}" + (f"/{uri_encode(key, keep_slash=True)}" if key else "")


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
