"""Credentials: canonical user ids, access key ids and secrets, and the AES-256-GCM box that
keeps secrets encrypted at rest under the master key."""

from __future__ import annotations

import base64
import os
import re
import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.errors import RemoteError

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
NONCE_SIZE = 12


def parse_master_key(value: str) -> bytes:
    """The master key as configured: 64 hex characters (`openssl rand -hex 32`)."""
    text = value.strip()
    if not _HEX64.fullmatch(text):
        raise ValueError(
            "master key must be 64 hexadecimal characters (32 bytes, e.g. from"
            f" `openssl rand -hex 32`); got {len(text)} characters"
        )
    return bytes.fromhex(text)


def new_user_id() -> str:
    return secrets.token_hex(32)


def new_access_key_id() -> str:
    # AWS shape: 20 characters, "AK" then uppercase alphanumerics.
    return "AK" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(18))


def new_secret() -> str:
    # 30 random bytes are exactly 40 base64 characters, the length of an AWS secret key.
    return base64.b64encode(secrets.token_bytes(30)).decode("ascii")


class SecretBox:
    """Seals secrets with a random nonce; the access key id is the associated data, so a
    sealed secret copied onto another key's row fails to open."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError(f"master key must be 32 bytes, got {len(master_key)}")
        self._aead = AESGCM(master_key)

    def seal(self, access_key_id: str, secret: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, secret.encode("utf-8"), access_key_id.encode())

    def open(self, access_key_id: str, sealed: bytes) -> str:
        nonce, body = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
        try:
            plain = self._aead.decrypt(nonce, body, access_key_id.encode())
        except InvalidTag:
            raise RemoteError(
                f"cannot decrypt the secret of access key {access_key_id}: the master key"
                " differs from the one it was stored with, or the row was altered",
                code="InternalError",
            ) from None
        return plain.decode("utf-8")
