"""An S3 request as the handlers see it: addressing resolved, query parsed, identity attached."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from alexanderd.front.errors import s3_error
from alexanderd.front.sigv4 import AuthRequest

Receive = Any  # the ASGI receive callable


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


@dataclass
class Request:
    method: str
    raw_path: bytes
    query_string: bytes
    headers: dict[str, str]
    receive: Receive
    rid: str
    client_ip: str = ""
    scheme: str = "http"
    bucket: str | None = None
    key: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    principal: str | None = None  # canonical user id; None = anonymous
    # The signed payload hash (x-amz-content-sha256, or UNSIGNED-PAYLOAD for presigned
    # URLs); None for anonymous requests.
    payload_hash: str | None = None
    access_key_id: str | None = None
    vhost: bool = False  # the bucket came from the Host header
    operation: str = "Unknown"
    bytes_in: int = 0

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"

    def auth_view(self) -> AuthRequest:
        return AuthRequest(self.method, self.raw_path, self.query_string, self.headers)

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")


def join_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        n = name.decode("latin-1").lower()
        v = value.decode("latin-1")
        headers[n] = f"{headers[n]},{v}" if n in headers else v
    return headers


def parse_query(query_string: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            query_string.decode("utf-8"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        raise s3_error("InvalidArgument", "The query string is not valid UTF-8") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        query.setdefault(name, value)
    return query


def vhost_bucket(host: str, domain: str | None) -> str | None:
    """The bucket named by a virtual-host-style Host header, if it is one."""
    hostname = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
    if domain and hostname.endswith("." + domain.lower()):
        return hostname[: -len(domain) - 1]
    return None


def resolve_address(
    raw_path: bytes, host: str, domain: str | None
) -> tuple[str | None, str | None]:
    """(bucket, key) from a path-style or virtual-host-style request."""
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise s3_error("InvalidURI", "Couldn't parse the specified URI.") from None
    bucket = vhost_bucket(host, domain)
    if bucket is not None:
        key = path[1:] if path.startswith("/") else path
        return bucket, key or None
    if not path.startswith("/"):
        raise s3_error("InvalidURI", "Couldn't parse the specified URI.")
    rest = path[1:]
    if not rest:
        return None, None
    bucket, sep, key = rest.partition("/")
    return bucket, (key if sep and key else None)


def client_address(
    peer: str,
    headers: dict[str, str],
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    scheme: str,
) -> tuple[str, str]:
    """(client ip, scheme), honouring X-Forwarded-* only from a configured trusted proxy."""
    if not trusted:
        return peer, scheme  # the usual case: no proxy to trust, nothing to parse
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer, scheme
    if not any(peer_ip in net for net in trusted):
        return peer, scheme
    forwarded = headers.get("x-forwarded-for", "")
    ip = forwarded.split(",")[0].strip() or peer
    proto = headers.get("x-forwarded-proto", scheme).split(",")[0].strip().lower()
    return ip, proto if proto in ("http", "https") else scheme
