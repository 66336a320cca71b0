"""Where PHI data keys come from: a local key (PHI_ENCRYPTION_KEY) or AWS KMS data keys (PHI_KMS_KEY_ID)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio.to_thread

from server.settings import ConfigError, Settings, decode_phi_key

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

KMS_ENCRYPTION_CONTEXT = {"app": "parlae-phi"}
KEY_BYTES = 32


class KeyUnavailable(Exception):
    """A key id cannot be resolved (unknown local key, or KMS refused or is unreachable)."""


class KeyProvider(Protocol):
    async def encryption_key(self) -> tuple[str, bytes]:
        """The (key id, 32-byte key) new ciphertexts are written with."""
        ...

    async def decryption_key(self, key_id: str) -> bytes:
        """The key for an id found in an envelope; raises KeyUnavailable."""
        ...


def local_key_id(key: bytes) -> str:
    """A stable, non-secret fingerprint: rotating PHI_ENCRYPTION_KEY yields a new id automatically."""
    return "L" + hashlib.sha256(b"parlae-phi-key-id\x00" + key).hexdigest()[:16]


class LocalKeyProvider:
    """The current key encrypts; it and every older key decrypt (rotation without downtime)."""

    def __init__(self, current: bytes, older: list[bytes] | None = None) -> None:
        if any(len(key) != KEY_BYTES for key in [current, *(older or [])]):
            raise ValueError(f"PHI keys must be {KEY_BYTES} bytes (AES-256)")  # AESGCM takes 16 too: AES-128
        self._current = (local_key_id(current), current)
        self._keys = {local_key_id(key): key for key in [current, *(older or [])]}

    async def encryption_key(self) -> tuple[str, bytes]:
        return self._current

    async def decryption_key(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyUnavailable("unknown local PHI key id") from None


@dataclass
class _DataKey:
    key_id: str
    plaintext: bytes
    created: float
    uses: int = 0


@dataclass
class KmsKeyProvider:
    """KMS GenerateDataKey with bounded reuse; the wrapped key travels in the envelope's key id.

    A data key encrypts at most `max_uses` values or for `max_age` seconds; decrypted data keys are
    cached (at most `max_cached` of them, each for `max_age`). boto3 runs on a worker thread. Envelopes
    written with a local key (`L` ids, from before a move to KMS) decrypt with `local` until re-encrypted.
    """

    client: KMSClient
    kms_key_id: str
    max_age: float = 300.0
    max_uses: int = 10_000
    max_cached: int = 1_000
    local: LocalKeyProvider | None = None
    _current: _DataKey | None = None
    _cache: OrderedDict[str, tuple[bytes, float]] = field(default_factory=OrderedDict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def encryption_key(self) -> tuple[str, bytes]:
        async with self._lock:
            now = time.monotonic()
            current = self._current
            if current is None or current.uses >= self.max_uses or now - current.created > self.max_age:
                current = self._current = await self._generate(now)
            current.uses += 1
            return current.key_id, current.plaintext

    async def decryption_key(self, key_id: str) -> bytes:
        if key_id.startswith("L"):
            if self.local is None:
                raise KeyUnavailable("local PHI key id, but no local key is configured")
            return await self.local.decryption_key(key_id)
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[1] <= self.max_age:
            self._cache.move_to_end(key_id)
            return cached[0]
        try:
            blob = base64.urlsafe_b64decode(key_id.removeprefix("K") + "==")
        except (binascii.Error, ValueError):
            raise KeyUnavailable("malformed KMS key id") from None
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self.client.decrypt(CiphertextBlob=blob, EncryptionContext=KMS_ENCRYPTION_CONTEXT)
            )
        except Exception as exc:  # botocore raises many types; all mean "cannot decrypt now"
            raise KeyUnavailable(f"KMS decrypt failed ({type(exc).__name__})") from None
        plaintext = response["Plaintext"]
        self._remember(key_id, plaintext, now)
        return plaintext

    async def _generate(self, now: float) -> _DataKey:
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self.client.generate_data_key(
                    KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=KMS_ENCRYPTION_CONTEXT
                )
            )
        except Exception as exc:  # see decryption_key
            raise KeyUnavailable(f"KMS GenerateDataKey failed ({type(exc).__name__})") from None
        key_id = "K" + base64.urlsafe_b64encode(response["CiphertextBlob"]).decode().rstrip("=")
        self._remember(key_id, response["Plaintext"], now)
        return _DataKey(key_id, response["Plaintext"], now)

    def _remember(self, key_id: str, plaintext: bytes, now: float) -> None:
        self._cache[key_id] = (plaintext, now)
        self._cache.move_to_end(key_id)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)


def _local_keys(settings: Settings) -> list[bytes]:
    """PHI_ENCRYPTION_KEY (first, when set), then PHI_ENCRYPTION_OLD_KEYS."""
    texts = [settings.phi_encryption_key.get_secret_value()] if settings.phi_encryption_key else []
    if settings.phi_encryption_old_keys:
        texts += settings.phi_encryption_old_keys.get_secret_value().split(",")
    return [decode_phi_key(text) for text in texts if text.strip()]


def key_provider_from_settings(settings: Settings) -> KeyProvider:
    """KMS when PHI_KMS_KEY_ID is set, else the local key; there is no plaintext fallback.

    With KMS, any configured local keys still decrypt (never encrypt), so `phi reencrypt` can move a
    deployment from a static key to KMS."""
    local_keys = _local_keys(settings)
    local = LocalKeyProvider(local_keys[0], local_keys[1:]) if local_keys else None
    if settings.phi_kms_key_id:
        import boto3

        client = boto3.client("kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return KmsKeyProvider(client=client, kms_key_id=settings.phi_kms_key_id, local=local)
    if settings.phi_encryption_key is None or local is None:
        raise ConfigError("PHI_ENCRYPTION_KEY or PHI_KMS_KEY_ID: a PHI key source is required")
    return local
