"""KMS data keys for PHI envelopes, against moto: encryption context, bounded reuse, decrypt cache, failures."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from server.phi.cipher import Binding, DecryptionFailed, PhiCipher
from server.phi.keys import (
    KMS_ENCRYPTION_CONTEXT,
    KeyUnavailable,
    KmsKeyProvider,
    LocalKeyProvider,
    key_provider_from_settings,
    local_key_id,
)
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
PLAINTEXT = b'{"firstName":"Ada","phone":"+15555550123"}'
BINDING = Binding("staff_followups", "data", "row_1", "acct_1")


@dataclass
class Call:
    operation: str
    kwargs: dict[str, Any]
    response: Any
    thread: threading.Thread


class RecordingKms:
    """The moto KMS client, recording each call, its response and its thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[Call] = []

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        method = getattr(self.inner, operation)

        def call(**kwargs: Any) -> Any:
            thread = threading.current_thread()
            response = method(**kwargs)
            self.calls.append(Call(operation, kwargs, response, thread))
            return response

        return call

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def data_keys(self) -> list[bytes]:
        return [call.response["Plaintext"] for call in self.calls if "Plaintext" in call.response]


@pytest.fixture
def kms(aws: None) -> Any:
    return boto3.client("kms", region_name=REGION)


@pytest.fixture
def kms_key_id(kms: Any) -> str:
    return str(kms.create_key(Description="parlae phi")["KeyMetadata"]["KeyId"])


@pytest.fixture
def make_provider(kms: Any, kms_key_id: str) -> Callable[..., tuple[KmsKeyProvider, RecordingKms]]:
    """A provider with its own (empty) caches, as in a fresh process, and the recorder of its KMS calls."""

    def make(**limits: Any) -> tuple[KmsKeyProvider, RecordingKms]:
        recorder = RecordingKms(kms)
        return KmsKeyProvider(client=recorder, kms_key_id=kms_key_id, **limits), recorder  # type: ignore[arg-type]

    return make


async def encrypt_many(cipher: PhiCipher, count: int) -> list[str]:
    return [await cipher.encrypt(PLAINTEXT, BINDING) for _ in range(count)]


def fail_with(monkeypatch: pytest.MonkeyPatch, kms: Any, operation: str, error: Exception) -> None:
    def raise_error(**_: Any) -> Any:
        raise error

    monkeypatch.setattr(kms, operation, raise_error)


def assert_no_key_material(message: str, keys: list[bytes]) -> None:
    for key in keys:
        for rendering in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode(), str(key)):
            assert rendering not in message


async def test_round_trip_through_the_cipher(make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]]) -> None:
    provider, recorder = make_provider()
    cipher = PhiCipher(provider)
    envelope = await cipher.encrypt(PLAINTEXT, BINDING)
    assert await cipher.decrypt(envelope, BINDING) == PLAINTEXT
    key_id = PhiCipher.key_id_of(envelope)
    assert key_id.startswith("K")
    (generated,) = recorder.of("generate_data_key")
    assert key_id == "K" + base64.urlsafe_b64encode(generated.response["CiphertextBlob"]).decode().rstrip("=")
    assert_no_key_material(envelope, recorder.data_keys())
    assert recorder.of("decrypt") == []  # the generated key was cached for decryption


async def test_generate_data_key_carries_the_encryption_context(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]], kms_key_id: str
) -> None:
    provider, recorder = make_provider()
    await PhiCipher(provider).encrypt(PLAINTEXT, BINDING)
    (generated,) = recorder.of("generate_data_key")
    assert generated.kwargs == {"KeyId": kms_key_id, "KeySpec": "AES_256", "EncryptionContext": {"app": "parlae-phi"}}
    assert len(generated.response["Plaintext"]) == 32


async def test_kms_runs_on_worker_threads(make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]]) -> None:
    writer, writes = make_provider()
    reader, reads = make_provider()
    envelope = await PhiCipher(writer).encrypt(PLAINTEXT, BINDING)
    await PhiCipher(reader).decrypt(envelope, BINDING)
    calls = writes.calls + reads.calls
    assert [call.operation for call in calls] == ["generate_data_key", "decrypt"]
    assert all(call.thread is not threading.current_thread() for call in calls)


async def test_a_data_key_is_reused_until_max_uses(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    provider, recorder = make_provider(max_uses=3)
    cipher = PhiCipher(provider)
    first_three = await encrypt_many(cipher, 3)
    assert len(recorder.of("generate_data_key")) == 1
    assert len({PhiCipher.key_id_of(envelope) for envelope in first_three}) == 1

    fourth = await cipher.encrypt(PLAINTEXT, BINDING)
    assert len(recorder.of("generate_data_key")) == 2
    assert PhiCipher.key_id_of(fourth) != PhiCipher.key_id_of(first_three[0])
    for envelope in [*first_three, fourth]:
        assert await cipher.decrypt(envelope, BINDING) == PLAINTEXT


async def test_a_data_key_expires_after_max_age(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    provider, recorder = make_provider(max_age=300.0)
    cipher = PhiCipher(provider)
    first = await cipher.encrypt(PLAINTEXT, BINDING)
    same = await cipher.encrypt(PLAINTEXT, BINDING)
    assert PhiCipher.key_id_of(same) == PhiCipher.key_id_of(first)

    assert provider._current is not None
    provider._current.created -= 301.0
    renewed = await cipher.encrypt(PLAINTEXT, BINDING)
    assert len(recorder.of("generate_data_key")) == 2
    assert PhiCipher.key_id_of(renewed) != PhiCipher.key_id_of(first)


async def test_a_fresh_provider_decrypts_once_then_uses_its_cache(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    writer, _ = make_provider()
    envelopes = await encrypt_many(PhiCipher(writer), 3)  # one data key
    reader, recorder = make_provider()
    cipher = PhiCipher(reader)
    for envelope in envelopes:
        assert await cipher.decrypt(envelope, BINDING) == PLAINTEXT
    (decrypted,) = recorder.of("decrypt")
    assert decrypted.kwargs["EncryptionContext"] == KMS_ENCRYPTION_CONTEXT
    assert recorder.of("generate_data_key") == []


async def test_decrypted_keys_expire_from_the_cache_after_max_age(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    writer, _ = make_provider()
    envelope = await PhiCipher(writer).encrypt(PLAINTEXT, BINDING)
    reader, recorder = make_provider(max_age=300.0)
    cipher = PhiCipher(reader)
    await cipher.decrypt(envelope, BINDING)
    key_id = PhiCipher.key_id_of(envelope)
    plaintext, cached_at = reader._cache[key_id]
    reader._cache[key_id] = (plaintext, cached_at - 301.0)
    await cipher.decrypt(envelope, BINDING)
    assert len(recorder.of("decrypt")) == 2


async def test_max_cached_bounds_the_cache_least_recently_used_first(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    writer, writes = make_provider(max_uses=1, max_cached=2)
    first, second, third = await encrypt_many(PhiCipher(writer), 3)  # three data keys
    assert len(writes.of("generate_data_key")) == 3
    assert len(writer._cache) == 2

    reader, reads = make_provider(max_cached=2)
    cipher = PhiCipher(reader)
    for envelope in (first, second, third):
        await cipher.decrypt(envelope, BINDING)
    assert len(reads.of("decrypt")) == 3
    assert list(reader._cache) == [PhiCipher.key_id_of(second), PhiCipher.key_id_of(third)]

    await cipher.decrypt(third, BINDING)  # cached
    assert len(reads.of("decrypt")) == 3
    await cipher.decrypt(first, BINDING)  # evicted, so KMS again; `second` is now the oldest
    assert len(reads.of("decrypt")) == 4
    assert list(reader._cache) == [PhiCipher.key_id_of(third), PhiCipher.key_id_of(first)]


async def test_a_data_key_from_another_encryption_context_is_refused(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]], kms: Any, kms_key_id: str
) -> None:
    """KMS binds the wrapped key to {"app": "parlae-phi"}: a key wrapped for another app does not unwrap."""
    foreign = kms.generate_data_key(KeyId=kms_key_id, KeySpec="AES_256", EncryptionContext={"app": "other"})
    key_id = "K" + base64.urlsafe_b64encode(foreign["CiphertextBlob"]).decode().rstrip("=")
    provider, _ = make_provider()
    with pytest.raises(KeyUnavailable, match="KMS decrypt failed"):
        await provider.decryption_key(key_id)


KMS_FAILURES = [
    pytest.param(ClientError({"Error": {"Code": "AccessDeniedException"}}, "Decrypt"), id="access-denied"),
    pytest.param(ClientError({"Error": {"Code": "ThrottlingException"}}, "Decrypt"), id="throttled"),
    pytest.param(ClientError({"Error": {"Code": "KMSInvalidStateException"}}, "Decrypt"), id="key-disabled"),
    pytest.param(EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com"), id="unreachable"),
]


@pytest.mark.parametrize("error", KMS_FAILURES)
async def test_kms_decrypt_failures_become_decryption_failed(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
    kms: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    writer, writes = make_provider()
    envelope = await PhiCipher(writer).encrypt(PLAINTEXT, BINDING)
    reader, _ = make_provider()
    fail_with(monkeypatch, kms, "decrypt", error)
    with pytest.raises(DecryptionFailed, match="KMS decrypt failed") as excinfo:
        await PhiCipher(reader).decrypt(envelope, BINDING)
    assert type(error).__name__ in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__
    assert_no_key_material(str(excinfo.value), writes.data_keys())
    assert PLAINTEXT.decode() not in str(excinfo.value)


@pytest.mark.parametrize("error", KMS_FAILURES)
async def test_kms_generate_failures_become_key_unavailable(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
    kms: Any,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    provider, _ = make_provider()
    fail_with(monkeypatch, kms, "generate_data_key", error)
    with pytest.raises(KeyUnavailable, match="KMS GenerateDataKey failed") as excinfo:
        await PhiCipher(provider).encrypt(PLAINTEXT, BINDING)
    assert excinfo.value.__cause__ is None
    assert provider._current is None  # nothing half-made is reused by the next call


async def test_a_malformed_kms_key_id_fails_cleanly(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    writer, _ = make_provider()
    envelope = await PhiCipher(writer).encrypt(PLAINTEXT, BINDING)
    version, _, nonce, sealed = envelope.split(".")
    reader, _ = make_provider()
    with pytest.raises(DecryptionFailed):
        await PhiCipher(reader).decrypt(".".join((version, "KAAAA", nonce, sealed)), BINDING)


async def test_settings_with_kms_keep_decrypting_envelopes_of_the_old_local_key(kms_key_id: str) -> None:
    """Moving from PHI_ENCRYPTION_KEY to KMS: the old key decrypts (for `phi reencrypt`), KMS encrypts."""
    old_key = os.urandom(32)
    old = await PhiCipher(LocalKeyProvider(old_key)).encrypt(PLAINTEXT, BINDING)
    settings = make_settings(
        "sqlite+aiosqlite:///:memory:",
        phi_encryption_key=None,
        phi_encryption_old_keys=base64.b64encode(old_key).decode(),
        phi_kms_key_id=kms_key_id,
        aws_region=REGION,
    )
    provider = key_provider_from_settings(settings)
    assert isinstance(provider, KmsKeyProvider)
    cipher = PhiCipher(provider)
    assert await cipher.decrypt(old, BINDING) == PLAINTEXT
    fresh = await cipher.encrypt(PLAINTEXT, BINDING)
    assert PhiCipher.key_id_of(fresh).startswith("K")
    assert PhiCipher.key_id_of(old) == local_key_id(old_key)


async def test_kms_alone_refuses_local_envelopes(
    make_provider: Callable[..., tuple[KmsKeyProvider, RecordingKms]],
) -> None:
    old = await PhiCipher(LocalKeyProvider(os.urandom(32))).encrypt(PLAINTEXT, BINDING)
    provider, recorder = make_provider()
    with pytest.raises(DecryptionFailed, match="no local key"):
        await PhiCipher(provider).decrypt(old, BINDING)
    assert recorder.calls == []  # not sent to KMS as if it were a wrapped key
