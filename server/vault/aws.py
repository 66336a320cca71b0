"""AWS Secrets Manager backend. boto3 blocks, so every call runs on a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncSession

from server.vault.base import (
    PracticeCredentials,
    SecretNotFound,
    SecretRef,
    VaultAccessDenied,
    VaultError,
    VaultThrottled,
    VaultUnavailable,
    secret_name,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

T = TypeVar("T")
TAGS = [{"Key": "app", "Value": "parlae-mcp"}, {"Key": "data-class", "Value": "pms-credentials"}]
_NOT_FOUND = {"ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "KMSAccessDeniedException"}
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "LimitExceededException"}


def _translate(exc: ClientError | BotoCoreError, name: str) -> VaultError:
    if isinstance(exc, BotoCoreError):
        return VaultUnavailable(f"Secrets Manager unreachable for {name} ({type(exc).__name__})")
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _NOT_FOUND:
        return SecretNotFound(f"no secret {name}")
    if code in _DENIED:
        return VaultAccessDenied(f"access denied to secret {name} ({code})")
    if code in _THROTTLED:
        return VaultThrottled(f"Secrets Manager throttled the request for {name}")
    return VaultUnavailable(f"Secrets Manager error for {name} ({code or 'unknown'})")


class AwsVault:
    def __init__(self, client: SecretsManagerClient, prefix: str, kms_key_id: str | None) -> None:
        self.client = client
        self.prefix = prefix
        self.kms_key_id = kms_key_id

    async def _call(self, name: str, operation: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(operation)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, name) from None

    async def _scheduled_for_deletion(self, name: str, exc: ClientError) -> bool:
        """Secrets Manager refuses most operations on a secret scheduled for deletion with InvalidRequestException,
        a code with other causes too; DescribeSecret's DeletedDate tells them apart."""
        if exc.response.get("Error", {}).get("Code") != "InvalidRequestException":
            return False
        described = await self._call(name, lambda: self.client.describe_secret(SecretId=name))
        return "DeletedDate" in described

    async def get(self, account_id: str) -> PracticeCredentials:
        name = secret_name(self.prefix, account_id)
        try:
            response = await anyio.to_thread.run_sync(lambda: self.client.get_secret_value(SecretId=name))
        except ClientError as exc:
            if not await self._scheduled_for_deletion(name, exc):
                raise _translate(exc, name) from None
            # As in the local vault: a secret awaiting deletion is gone until a put restores it.
            raise SecretNotFound(f"no secret {name} (scheduled for deletion)") from None
        except BotoCoreError as exc:
            raise _translate(exc, name) from None
        return PracticeCredentials.from_secret_string(response["SecretString"])

    async def put(
        self, account_id: str, credentials: PracticeCredentials, session: AsyncSession | None = None
    ) -> SecretRef:
        """Create with the KMS key and tags; else add a version (restoring a secret pending deletion)."""
        name = secret_name(self.prefix, account_id)
        value = credentials.to_secret_string()
        create_args: dict[str, Any] = {"Name": name, "SecretString": value, "Tags": TAGS}
        if self.kms_key_id:
            create_args["KmsKeyId"] = self.kms_key_id
        try:
            response = await anyio.to_thread.run_sync(lambda: self.client.create_secret(**create_args))
            return SecretRef(name=name, arn=response["ARN"])
        except ClientError as exc:
            # AWS refuses to create a secret over one scheduled for deletion (InvalidRequestException).
            if await self._scheduled_for_deletion(name, exc):
                return await self._restore(name, value)
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise _translate(exc, name) from None
        except BotoCoreError as exc:
            raise _translate(exc, name) from None
        return await self._new_version(name, value)

    async def _new_version(self, name: str, value: str) -> SecretRef:
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self.client.put_secret_value(SecretId=name, SecretString=value)
            )
        except ClientError as exc:
            if not await self._scheduled_for_deletion(name, exc):
                raise _translate(exc, name) from None
            return await self._restore(name, value)  # scheduled for deletion since the create attempt
        except BotoCoreError as exc:
            raise _translate(exc, name) from None
        return SecretRef(name=name, arn=response["ARN"])

    async def _restore(self, name: str, value: str) -> SecretRef:
        """A re-authorised practice gets its secret back (the deletion is cancelled), with the new value."""
        await self._call(name, lambda: self.client.restore_secret(SecretId=name))
        response = await self._call(name, lambda: self.client.put_secret_value(SecretId=name, SecretString=value))
        return SecretRef(name=name, arn=response["ARN"])

    async def schedule_deletion(
        self, account_id: str, recovery_days: int = 30, session: AsyncSession | None = None
    ) -> None:
        name = secret_name(self.prefix, account_id)
        try:
            await anyio.to_thread.run_sync(
                lambda: self.client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
            )
        except ClientError as exc:
            # Already scheduled (a repeated deauthorization): keep the first deletion date, as the local vault does.
            if not await self._scheduled_for_deletion(name, exc):
                raise _translate(exc, name) from None
        except BotoCoreError as exc:
            raise _translate(exc, name) from None
