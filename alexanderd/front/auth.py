"""Who is asking: SigV4 (header or presigned) verified against the key store, with a cache.

Secrets come from the meta process (decrypted there with the master key) and are cached
for `key_cache_ttl` seconds, so a revoked key stops working within that time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from alexanderd.front.authtypes import UNSIGNED_PAYLOAD
from alexanderd.front.clients import ChannelPool
from alexanderd.front.errors import S3Error, s3_error
from alexanderd.front.request import Request
from alexanderd.front.sigv2 import ParsedV2, parse_v2, verify_v2
from alexanderd.front.sigv4 import AuthError, ParsedAuth, SigningContext, parse_auth, verify
from protocol.errors import RemoteError
from protocol.meta import AccessKeyInfo, GetAccessKey

NEGATIVE_TTL = 1.0
MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(self, meta: ChannelPool, ttl: float) -> None:
        self.meta = meta
        self.ttl = ttl
        self._entries: dict[str, tuple[float, AccessKeyInfo | None]] = {}

    async def get(self, access_key_id: str) -> AccessKeyInfo | None:
        now = time.monotonic()
        hit = self._entries.get(access_key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            info: AccessKeyInfo | None = await self.meta.request(
                GetAccessKey(access_key_id=access_key_id), AccessKeyInfo
            )
        except RemoteError as exc:
            if exc.error_code not in ("InvalidAccessKeyId", "NoSuchEntity"):
                raise
            info = None
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[access_key_id] = (now + (self.ttl if info else NEGATIVE_TTL), info)
        return info


async def authenticate(
    req: Request, keys: KeyCache, region: str
) -> tuple[ParsedAuth | None, SigningContext | None]:
    """Set req.principal; return the parsed auth and the signing context for chunk checks."""
    view = req.auth_view()
    try:
        v2 = parse_v2(view)
        if v2 is not None:
            await _authenticate_v2(req, keys, v2)
            return None, None
        parsed = parse_auth(view)
        if parsed is None:
            req.principal = None
            return None, None
        info = await _active_key(keys, parsed.access_key_id)
        ctx = verify(view, parsed, info.secret, datetime.now(UTC), region)
    except AuthError as exc:
        raise auth_failure(exc) from None
    req.principal = info.user_id
    req.payload_hash = UNSIGNED_PAYLOAD if parsed.body_unsigned else parsed.payload_hash
    req.access_key_id = parsed.access_key_id
    return parsed, ctx


async def _active_key(keys: KeyCache, access_key_id: str) -> AccessKeyInfo:
    info = await keys.get(access_key_id)
    if info is None or info.status != "Active":
        raise s3_error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=access_key_id,
        )
    return info


async def _authenticate_v2(req: Request, keys: KeyCache, parsed: ParsedV2) -> None:
    info = await _active_key(keys, parsed.access_key_id)
    verify_v2(req.auth_view(), parsed, info.secret, req.bucket if req.vhost else None)
    req.principal = info.user_id
    # SigV2 never signs the payload; Content-MD5, when sent, is still verified.
    req.payload_hash = UNSIGNED_PAYLOAD
    req.access_key_id = parsed.access_key_id


def auth_failure(exc: AuthError) -> S3Error:
    """The S3 error for an AuthError, keeping the details AWS puts in the document."""
    try:
        return S3Error(exc.code, exc.message, exc.details)
    except ValueError:
        # A detail name that is no XML element, or a code outside the table: keep the
        # message, which says what was wrong, under the generic code.
        return S3Error("InvalidRequest", exc.message)
