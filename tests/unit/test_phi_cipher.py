"""PHI envelopes: format, integrity, binding to their place, key rotation and key configuration."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from server.phi.cipher import NONCE_BYTES, Binding, DecryptionFailed, PhiCipher
from server.phi.keys import LocalKeyProvider, key_provider_from_settings, local_key_id
from server.settings import ConfigError, decode_phi_key
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

PLAINTEXT = b'{"firstName":"Ada","dob":"1990-02-03","phone":"+15555550123"}'
BINDING = Binding("pending_patients", "data", "row_1", "acct_1")
NO_DATABASE = "sqlite+aiosqlite:///:memory:"  # settings only; nothing connects
ENVELOPE = re.compile(r"v1\.L[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+")


def cipher_for(current: bytes, *older: bytes) -> PhiCipher:
    return PhiCipher(LocalKeyProvider(current, list(older)))


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def replace_part(envelope: str, index: int, new: str) -> str:
    parts = envelope.split(".")
    parts[index] = new
    return ".".join(parts)


def other_first_char(text: str) -> str:
    """The same text with a different first character (always significant, unlike a base64 tail)."""
    return ("B" if text[:1] == "A" else "A") + text[1:]


async def assert_rejected(cipher: PhiCipher, envelope: str, binding: Binding = BINDING) -> DecryptionFailed:
    with pytest.raises(DecryptionFailed) as excinfo:
        await cipher.decrypt(envelope, binding)
    assert PLAINTEXT.decode() not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    return excinfo.value


@pytest.mark.parametrize("plaintext", [PLAINTEXT, b"", bytes(range(256))])
async def test_round_trip(plaintext: bytes) -> None:
    cipher = cipher_for(os.urandom(32))
    assert await cipher.decrypt(await cipher.encrypt(plaintext, BINDING), BINDING) == plaintext


async def test_json_round_trip() -> None:
    cipher = cipher_for(os.urandom(32))
    value = {"name": "Ada", "visits": [1, 2]}
    assert await cipher.decrypt_json(await cipher.encrypt_json(value, BINDING), BINDING) == value


async def test_envelope_format_and_version() -> None:
    key = os.urandom(32)
    envelope = await cipher_for(key).encrypt(PLAINTEXT, BINDING)
    assert ENVELOPE.fullmatch(envelope)
    version, key_id, nonce, sealed = envelope.split(".")
    assert version == "v1"
    assert key_id == local_key_id(key)
    assert len(unb64(nonce)) == NONCE_BYTES
    assert len(unb64(sealed)) == len(PLAINTEXT) + 16  # the GCM tag
    assert PLAINTEXT not in unb64(sealed)


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    cipher = cipher_for(os.urandom(32))
    first, second = [await cipher.encrypt(PLAINTEXT, BINDING) for _ in range(2)]
    assert first.split(".")[2] != second.split(".")[2]
    assert first != second


@pytest.mark.parametrize(
    ("index", "mutate"),
    [
        pytest.param(0, lambda _: "v2", id="version"),
        pytest.param(0, lambda _: "", id="no-version"),
        pytest.param(1, other_first_char, id="key-id"),
        pytest.param(1, lambda part: part[:-1] + ("0" if part[-1] != "0" else "1"), id="key-id-digit"),
        pytest.param(2, other_first_char, id="nonce"),
        pytest.param(2, lambda part: part[:-4], id="short-nonce"),
        pytest.param(2, lambda _: "", id="empty-nonce"),
        pytest.param(2, lambda part: part[:4], id="tiny-nonce"),
        pytest.param(3, other_first_char, id="ciphertext"),
        pytest.param(3, lambda part: part[:-4], id="truncated-tag"),
        pytest.param(3, lambda _: "", id="empty-ciphertext"),
        pytest.param(3, lambda part: part + "AAAA", id="appended"),
        pytest.param(3, lambda part: part[:-1] + "!", id="not-base64"),
    ],
)
async def test_tampering_with_any_part_fails(index: int, mutate: Callable[[str], str]) -> None:
    cipher = cipher_for(os.urandom(32))
    envelope = await cipher.encrypt(PLAINTEXT, BINDING)
    part = envelope.split(".")[index]
    await assert_rejected(cipher, replace_part(envelope, index, mutate(part)))


@pytest.mark.parametrize("shape", ["", "v1", "v1.a.b", "v1.a.b.c.d", "garbage with spaces", "v1.é.é.é"])
async def test_malformed_envelopes_fail(shape: str) -> None:
    await assert_rejected(cipher_for(os.urandom(32)), shape)


@pytest.mark.parametrize("field", [field.name for field in dataclasses.fields(Binding)])
async def test_a_ciphertext_moved_elsewhere_does_not_decrypt(field: str) -> None:
    cipher = cipher_for(os.urandom(32))
    envelope = await cipher.encrypt(PLAINTEXT, BINDING)
    elsewhere = dataclasses.replace(BINDING, **{field: getattr(BINDING, field) + "_other"})
    error = await assert_rejected(cipher, envelope, elsewhere)
    assert "authentication failed" in str(error)


async def test_binding_fields_cannot_be_shifted_into_each_other() -> None:
    """A naive concatenation would let ("ab", "c") collide with ("a", "bc")."""
    cipher = cipher_for(os.urandom(32))
    envelope = await cipher.encrypt(PLAINTEXT, Binding("t", "ab", "c", "acct"))
    await assert_rejected(cipher, envelope, Binding("t", "a", "bc", "acct"))


async def test_rotation_decrypts_old_envelopes_and_writes_with_the_new_key() -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    old = await cipher_for(key_a).encrypt(PLAINTEXT, BINDING)
    rotated = cipher_for(key_b, key_a)
    assert await rotated.decrypt(old, BINDING) == PLAINTEXT
    fresh = await rotated.encrypt(PLAINTEXT, BINDING)
    assert PhiCipher.key_id_of(old) == local_key_id(key_a)
    assert PhiCipher.key_id_of(fresh) == local_key_id(key_b) != local_key_id(key_a)
    assert await rotated.decrypt(fresh, BINDING) == PLAINTEXT


async def test_a_provider_without_the_old_key_cannot_decrypt() -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    old = await cipher_for(key_a).encrypt(PLAINTEXT, BINDING)
    error = await assert_rejected(cipher_for(key_b), old)
    assert "unknown local PHI key id" in str(error)


async def test_a_forged_key_id_does_not_select_another_key() -> None:
    """Relabelling an envelope with the other key's id leaves it undecryptable (wrong key for the tag)."""
    key_a, key_b = os.urandom(32), os.urandom(32)
    envelope = await cipher_for(key_a).encrypt(PLAINTEXT, BINDING)
    await assert_rejected(cipher_for(key_a, key_b), replace_part(envelope, 1, local_key_id(key_b)))


def test_key_ids_are_stable_fingerprints_that_reveal_nothing() -> None:
    key = os.urandom(32)
    assert local_key_id(key) == local_key_id(bytes(key))
    assert local_key_id(key) != local_key_id(os.urandom(32))
    assert key.hex()[:16] not in local_key_id(key)


def test_key_id_of() -> None:
    assert PhiCipher.key_id_of("v1.Kabc_-.bm9uY2U.c2VhbGVk") == "Kabc_-"


def test_settings_without_any_key_source_are_refused() -> None:
    with pytest.raises(ConfigError, match="PHI_ENCRYPTION_KEY or PHI_KMS_KEY_ID"):
        key_provider_from_settings(make_settings(NO_DATABASE, phi_encryption_key=None))


async def test_settings_keys_rotate_through_old_keys() -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    old = await cipher_for(key_a).encrypt(PLAINTEXT, BINDING)
    settings = make_settings(
        NO_DATABASE,
        phi_encryption_key=base64.b64encode(key_b).decode(),
        phi_encryption_old_keys=f" {base64.b64encode(key_a).decode()} , ",
    )
    cipher = PhiCipher(key_provider_from_settings(settings))
    assert await cipher.decrypt(old, BINDING) == PLAINTEXT
    assert PhiCipher.key_id_of(await cipher.encrypt(PLAINTEXT, BINDING)) == local_key_id(key_b)


@pytest.mark.parametrize("length", [1, 16, 24, 31, 33, 64])
def test_keys_of_the_wrong_length_are_rejected(length: int) -> None:
    encoded = base64.b64encode(os.urandom(length)).decode()
    with pytest.raises(ValueError, match="32 bytes"):
        decode_phi_key(encoded)
    with pytest.raises(ValidationError):
        make_settings(NO_DATABASE, phi_encryption_key=encoded)
    with pytest.raises(ValidationError):
        make_settings(NO_DATABASE, phi_encryption_old_keys=encoded)
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyProvider(os.urandom(length))
    with pytest.raises(ValueError, match="32 bytes"):
        LocalKeyProvider(os.urandom(32), [os.urandom(length)])


def test_a_key_that_is_not_base64_is_rejected() -> None:
    with pytest.raises(ValueError, match="base64"):
        decode_phi_key("not base64 at all!")
