"""AES-256-GCM field envelopes: `v1.<key id>.<nonce>.<ciphertext+tag>` (base64url).

The associated data binds each ciphertext to its table, column, row and account, so a value copied
to another row or column does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.phi.keys import KeyProvider, KeyUnavailable

VERSION = "v1"
NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """The envelope is malformed, its key is unknown, or it belongs to another row, column or account."""


@dataclass(frozen=True, slots=True)
class Binding:
    """Where a ciphertext lives; its canonical bytes are the GCM associated data."""

    table: str
    column: str
    row: str
    account: str

    def associated_data(self) -> bytes:
        return json.dumps([VERSION, self.table, self.column, self.row, self.account], separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PhiCipher:
    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys

    async def encrypt(self, plaintext: bytes, binding: Binding) -> str:
        key_id, key = await self.keys.encryption_key()
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext, binding.associated_data())
        return ".".join((VERSION, key_id, _b64(nonce), _b64(sealed)))

    async def decrypt(self, envelope: str, binding: Binding) -> bytes:
        try:
            version, key_id, nonce_text, sealed_text = envelope.split(".")
            if version != VERSION:
                raise DecryptionFailed("unknown envelope version")
            nonce, sealed = _unb64(nonce_text), _unb64(sealed_text)
            if len(nonce) != NONCE_BYTES:  # AESGCM would raise ValueError for a short one
                raise DecryptionFailed("malformed envelope")
        except (ValueError, binascii.Error):
            raise DecryptionFailed("malformed envelope") from None
        try:
            key = await self.keys.decryption_key(key_id)
            return AESGCM(key).decrypt(nonce, sealed, binding.associated_data())
        except KeyUnavailable as exc:
            raise DecryptionFailed(str(exc)) from None
        except InvalidTag:
            raise DecryptionFailed("authentication failed: wrong key, row, column or account") from None

    async def encrypt_json(self, value: Any, binding: Binding) -> str:
        return await self.encrypt(json.dumps(value, separators=(",", ":")).encode(), binding)

    async def decrypt_json(self, envelope: str, binding: Binding) -> Any:
        return json.loads(await self.decrypt(envelope, binding))

    @staticmethod
    def key_id_of(envelope: str) -> str:
        """The key id an envelope was written with (for re-encryption after rotation); "" if malformed."""
        parts = envelope.split(".", 2)
        return parts[1] if len(parts) == 3 else ""
