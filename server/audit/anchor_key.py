"""The key that authenticates anchors, which the database never holds.

Production: a KMS HMAC key (key spec HMAC_256, usage GENERATE_VERIFY_MAC) used through GenerateMac/VerifyMac
with HMAC_SHA_256, so the key never leaves KMS. Tests and development: a key file holding base64 of at least
32 random bytes (HMAC-SHA256 locally). Blocking calls: run them on a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from server.settings import ConfigError, Settings

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

MIN_KEY_BYTES = 32
KMS_ALGORITHM: Final = "HMAC_SHA_256"


class AnchorKey(Protocol):
    @property
    def key_id(self) -> str:
        """Names the key (never reveals it)."""
        ...

    def mac(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, mac: bytes) -> bool: ...


@dataclass(frozen=True)
class FileKey:
    secret: bytes = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> FileKey:
        """Read the key; ConfigError naming the variable when the file is unreadable or not a key."""
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise ConfigError("AUDIT_ANCHOR_KEY_FILE: cannot read the key file") from None
        try:
            secret = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                "AUDIT_ANCHOR_KEY_FILE: the file must hold base64 (e.g. openssl rand -base64 32)"
            ) from None
        if len(secret) < MIN_KEY_BYTES:
            raise ConfigError(f"AUDIT_ANCHOR_KEY_FILE: the key must be at least {MIN_KEY_BYTES} random bytes")
        return cls(secret)

    @property
    def key_id(self) -> str:
        return "file:" + hashlib.sha256(b"parlae-anchor-key-id\x00" + self.secret).hexdigest()[:16]

    def mac(self, message: bytes) -> bytes:
        return hmac.digest(self.secret, message, "sha256")

    def verify(self, message: bytes, mac: bytes) -> bool:
        return hmac.compare_digest(self.mac(message), mac)


@dataclass(frozen=True)
class KmsKey:
    client: KMSClient = field(repr=False)
    kms_key_id: str

    @property
    def key_id(self) -> str:
        return self.kms_key_id

    def mac(self, message: bytes) -> bytes:
        response = self.client.generate_mac(KeyId=self.kms_key_id, Message=message, MacAlgorithm=KMS_ALGORITHM)
        return response["Mac"]

    def verify(self, message: bytes, mac: bytes) -> bool:
        try:
            response = self.client.verify_mac(
                KeyId=self.kms_key_id, Message=message, MacAlgorithm=KMS_ALGORITHM, Mac=mac
            )
        except self.client.exceptions.KMSInvalidMacException:
            return False
        return response["MacValid"]


def key_from_settings(settings: Settings) -> AnchorKey:
    """The one configured key source (ConfigError unless exactly one is set)."""
    kind, value = settings.anchor_key_source()
    if kind == "file":
        return FileKey.load(Path(value))
    import boto3

    client = boto3.client("kms", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    return KmsKey(client, value)
