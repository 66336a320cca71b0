"""Per-practice Sikka credentials: one secret per account, in AWS Secrets Manager or encrypted in the DB."""

from server.vault.base import PracticeCredentials, SecretNotFound, VaultError, VaultUnavailable

__all__ = ["PracticeCredentials", "SecretNotFound", "VaultError", "VaultUnavailable"]
