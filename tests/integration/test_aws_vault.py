"""The Secrets Manager vault against moto (corrected where moto differs from AWS, see `SecretsManagerProxy`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from server.vault.aws import AwsVault
from server.vault.base import (
    PracticeCredentials,
    SecretNotFound,
    VaultAccessDenied,
    VaultError,
    VaultThrottled,
    VaultUnavailable,
)

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
PREFIX = "parlae-test/practices"
ACCOUNT = "acct_aws_1"
NAME = f"{PREFIX}/{ACCOUNT}"


def credentials(n: int = 1) -> PracticeCredentials:
    return PracticeCredentials(
        office_id=f"D{36000 + n}",
        secret_key=f"secret-key-{n:02d}-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        practice_id=str(n),
        practice_name="Happy Dental Clinic",
        pms_type="Dentrix",
        time_zone="America/New_York",
        request_key=f"request-key-{n:02d}-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        refresh_key=f"refresh-key-{n:02d}-f9e8d7c6b5a4938271605f4e3d2c1b0a",
        token_expiry=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class SecretsManagerProxy:
    """The moto client, recording the thread of every call and answering like AWS for secrets scheduled for
    deletion: AWS refuses CreateSecret and PutSecretValue for them with InvalidRequestException, where moto raises
    ResourceExistsException and silently stores a version of a still-deleted secret."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, threading.Thread]] = []

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        method = getattr(self.inner, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, threading.current_thread()))
            if operation in ("create_secret", "put_secret_value"):
                self._refuse_if_scheduled_for_deletion(kwargs.get("Name") or kwargs["SecretId"], operation)
            return method(**kwargs)

        return call

    def _refuse_if_scheduled_for_deletion(self, name: str, operation: str) -> None:
        try:
            described = self.inner.describe_secret(SecretId=name)
        except self.inner.exceptions.ResourceNotFoundException:
            return
        if "DeletedDate" in described:
            message = "You can't perform this operation on the secret because it was marked for deletion."
            raise client_error("InvalidRequestException", operation.title().replace("_", ""), message)

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]


@pytest.fixture
def kms_key_id(aws: None) -> str:
    return str(boto3.client("kms", region_name=REGION).create_key(Description="parlae secrets")["KeyMetadata"]["KeyId"])


@pytest.fixture
def secrets(aws: None) -> Any:
    """The raw moto client: what the tests inspect, and where they inject failures."""
    return boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def proxy(secrets: Any) -> SecretsManagerProxy:
    return SecretsManagerProxy(secrets)


@pytest.fixture
def vault(proxy: SecretsManagerProxy, kms_key_id: str) -> AwsVault:
    return AwsVault(proxy, PREFIX, kms_key_id)  # type: ignore[arg-type]


def fail_with(monkeypatch: pytest.MonkeyPatch, secrets: Any, operation: str, error: Exception) -> None:
    def raise_error(**_: Any) -> Any:
        raise error

    monkeypatch.setattr(secrets, operation, raise_error)


async def test_create_stores_the_camel_case_json_with_the_kms_key_and_tags(
    vault: AwsVault, secrets: Any, kms_key_id: str
) -> None:
    ref = await vault.put(ACCOUNT, credentials())
    described = secrets.describe_secret(SecretId=NAME)
    assert ref.name == NAME == described["Name"]
    assert ref.arn == described["ARN"]
    assert described["KmsKeyId"] == kms_key_id
    assert {tag["Key"]: tag["Value"] for tag in described["Tags"]} == {
        "app": "parlae-mcp",
        "data-class": "pms-credentials",
    }
    assert json.loads(secrets.get_secret_value(SecretId=NAME)["SecretString"]) == {
        "officeId": "D36001",
        "secretKey": credentials().secret_key,
        "practiceId": "1",
        "practiceName": "Happy Dental Clinic",
        "pmsType": "Dentrix",
        "timeZone": "America/New_York",
        "requestKey": credentials().request_key,
        "refreshKey": credentials().refresh_key,
        "tokenExpiry": "2030-01-02T03:04:05Z",
        "tokenIssuedAt": None,
        "supersedes": [],
    }


async def test_the_secret_is_named_prefix_slash_account(vault: AwsVault, secrets: Any) -> None:
    await vault.put(ACCOUNT, credentials(1))
    await vault.put("acct_aws_2", credentials(2))
    names = sorted(secret["Name"] for secret in secrets.list_secrets()["SecretList"])
    assert names == [f"{PREFIX}/{ACCOUNT}", f"{PREFIX}/acct_aws_2"]


async def test_without_a_kms_key_the_default_key_is_used(proxy: SecretsManagerProxy, secrets: Any) -> None:
    await AwsVault(proxy, PREFIX, None).put(ACCOUNT, credentials())  # type: ignore[arg-type]
    assert "KmsKeyId" not in secrets.describe_secret(SecretId=NAME)


async def test_get_returns_what_put_stored(vault: AwsVault) -> None:
    await vault.put(ACCOUNT, credentials())
    assert await vault.get(ACCOUNT) == credentials()


async def test_a_second_put_creates_a_new_current_version(vault: AwsVault, secrets: Any) -> None:
    await vault.put(ACCOUNT, credentials(1))
    await vault.put(ACCOUNT, credentials(2))
    versions = secrets.list_secret_version_ids(SecretId=NAME)["Versions"]
    assert len(versions) == 2
    current = [version["VersionId"] for version in versions if "AWSCURRENT" in version["VersionStages"]]
    assert len(current) == 1
    latest = secrets.get_secret_value(SecretId=NAME, VersionId=current[0])
    assert PracticeCredentials.from_secret_string(latest["SecretString"]) == credentials(2)
    previous = secrets.get_secret_value(SecretId=NAME, VersionStage="AWSPREVIOUS")
    assert PracticeCredentials.from_secret_string(previous["SecretString"]) == credentials(1)
    assert await vault.get(ACCOUNT) == credentials(2)


async def test_get_of_a_missing_account_raises_secret_not_found(vault: AwsVault) -> None:
    with pytest.raises(SecretNotFound, match=NAME):
        await vault.get(ACCOUNT)


async def test_schedule_deletion_then_put_restores_the_secret(vault: AwsVault, secrets: Any) -> None:
    await vault.put(ACCOUNT, credentials(1))
    await vault.schedule_deletion(ACCOUNT, recovery_days=7)
    assert "DeletedDate" in secrets.describe_secret(SecretId=NAME)
    with pytest.raises(SecretNotFound):  # as in the local vault
        await vault.get(ACCOUNT)

    await vault.put(ACCOUNT, credentials(2))
    assert "DeletedDate" not in secrets.describe_secret(SecretId=NAME)
    assert await vault.get(ACCOUNT) == credentials(2)


async def test_a_secret_deleted_between_create_and_put_is_restored(
    vault: AwsVault, secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateSecret says it exists, then a deauthorization schedules it for deletion before PutSecretValue."""
    await vault.put(ACCOUNT, credentials(1))
    create = secrets.create_secret

    def create_then_lose_the_race(**kwargs: Any) -> Any:
        try:
            return create(**kwargs)
        finally:
            secrets.delete_secret(SecretId=NAME, RecoveryWindowInDays=7)

    monkeypatch.setattr(secrets, "create_secret", create_then_lose_the_race)
    await vault.put(ACCOUNT, credentials(2))
    assert await vault.get(ACCOUNT) == credentials(2)


async def test_a_repeated_schedule_deletion_is_harmless(vault: AwsVault, secrets: Any) -> None:
    await vault.put(ACCOUNT, credentials())
    await vault.schedule_deletion(ACCOUNT, recovery_days=7)
    first = secrets.describe_secret(SecretId=NAME)["DeletedDate"]
    await vault.schedule_deletion(ACCOUNT, recovery_days=30)
    assert secrets.describe_secret(SecretId=NAME)["DeletedDate"] == first


async def test_schedule_deletion_of_a_missing_secret_raises_secret_not_found(vault: AwsVault) -> None:
    with pytest.raises(SecretNotFound):
        await vault.schedule_deletion(ACCOUNT)


# (vault method, the boto3 operation it calls first)
OPERATIONS = [("get", "get_secret_value"), ("put", "create_secret"), ("schedule_deletion", "delete_secret")]
FAILURES = [
    pytest.param("AccessDeniedException", VaultAccessDenied, id="access-denied"),
    pytest.param("KMSAccessDeniedException", VaultAccessDenied, id="kms-access-denied"),
    pytest.param("ThrottlingException", VaultThrottled, id="throttled"),
    pytest.param("InternalServiceError", VaultUnavailable, id="internal-error"),
    pytest.param("InvalidRequestException", VaultUnavailable, id="invalid-request-not-deletion"),
]


async def call_vault(vault: AwsVault, method: str) -> object:
    if method == "put":
        return await vault.put(ACCOUNT, credentials())
    if method == "get":
        return await vault.get(ACCOUNT)
    await vault.schedule_deletion(ACCOUNT, recovery_days=7)
    return None


async def assert_translated(vault: AwsVault, method: str, expected: type[VaultError]) -> VaultError:
    with pytest.raises(expected) as excinfo:
        await call_vault(vault, method)
    message = str(excinfo.value)
    assert NAME in message
    for secret in (credentials().secret_key, credentials().request_key, credentials().refresh_key):
        assert secret not in message
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__  # the botocore error (and its request) stays out of tracebacks
    return excinfo.value


@pytest.mark.parametrize(("method", "operation"), OPERATIONS)
@pytest.mark.parametrize(("code", "expected"), FAILURES)
async def test_client_errors_are_translated(
    vault: AwsVault,
    secrets: Any,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    operation: str,
    code: str,
    expected: type[VaultError],
) -> None:
    await vault.put(ACCOUNT, credentials())  # exists and is not scheduled for deletion
    echo = f"request carried {credentials().secret_key} and {credentials().request_key}"
    fail_with(monkeypatch, secrets, operation, client_error(code, "Operation", echo))
    error = await assert_translated(vault, method, expected)
    assert code in str(error) or expected is VaultThrottled


@pytest.mark.parametrize(("method", "operation"), OPERATIONS)
@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com"),
    ],
    ids=["endpoint-connection", "read-timeout"],
)
async def test_transport_errors_mean_unavailable(
    vault: AwsVault, secrets: Any, monkeypatch: pytest.MonkeyPatch, method: str, operation: str, error: Exception
) -> None:
    fail_with(monkeypatch, secrets, operation, error)
    assert type(error).__name__ in str(await assert_translated(vault, method, VaultUnavailable))


async def test_a_failing_new_version_is_translated(
    vault: AwsVault, secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await vault.put(ACCOUNT, credentials(1))
    fail_with(monkeypatch, secrets, "put_secret_value", client_error("ThrottlingException", "PutSecretValue"))
    await assert_translated(vault, "put", VaultThrottled)


async def test_boto3_never_runs_on_the_event_loop_thread(vault: AwsVault, proxy: SecretsManagerProxy) -> None:
    loop_thread = threading.current_thread()
    await vault.put(ACCOUNT, credentials(1))
    await vault.put(ACCOUNT, credentials(2))
    await vault.get(ACCOUNT)
    await vault.schedule_deletion(ACCOUNT, recovery_days=7)
    await vault.schedule_deletion(ACCOUNT, recovery_days=7)
    with pytest.raises(SecretNotFound):
        await vault.get(ACCOUNT)
    await vault.put(ACCOUNT, credentials(3))
    assert {"create_secret", "put_secret_value", "get_secret_value", "delete_secret", "describe_secret"} <= set(
        proxy.operations()
    )
    assert "restore_secret" in proxy.operations()
    assert all(thread is not loop_thread for _, thread in proxy.calls)
