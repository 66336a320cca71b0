"""Practice onboarding and offboarding, always confirmed with Sikka (never on a request body's word).

Authorise: the practice must be listed by `authorized_practices` (show=all) with the same secret_key, and a
request_key exchange must succeed; then the account, the vault secret and the integration are written in one
transaction. A practice Sikka does not list yet is PENDING: nothing is stored, `practices sync` activates it.
Deauthorise: only once Sikka no longer lists the practice; tokens revoked, secret scheduled for deletion,
Sikka keys revoked.
"""

from __future__ import annotations

import contextlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import revoke_account_tokens
from server.db.models import Account, IntegrationStatus, PmsIntegration, utcnow
from server.logs import get_logger
from server.services import Services
from server.sikka.client import Deadline, Item
from server.sikka.errors import PracticeNotAuthorized, SikkaAuthError, SikkaError
from server.sikka.metadata import Capabilities
from server.sikka.records import text
from server.sikka.session import exchange_request_key, revoke_keys
from server.sikka.zones import resolve_zone_name
from server.vault.base import PracticeCredentials, SecretNotFound, VaultError

log = get_logger(__name__)

ONBOARDING_DEADLINE_SECONDS = 15.0
SECRET_RECOVERY_DAYS = 30


class NotConfirmed(Exception):
    """Sikka lists this office, but not with this secret key or practice (a forged or stale request)."""


class StillAuthorized(Exception):
    """A deauthorisation arrived, but Sikka still lists the practice."""


@dataclass(frozen=True)
class PracticeRef:
    office_id: str
    practice_id: str
    secret_key: str
    practice_name: str = ""


@dataclass(frozen=True)
class OnboardingResult:
    status: IntegrationStatus
    account_id: str | None = None
    created: bool = False


def listing_for(listed: list[Item], office_id: str, practice_id: str) -> Item | None:
    return next(
        (i for i in listed if text(i, "office_id") == office_id and text(i, "practice_id") == practice_id),
        None,
    )


def same_secret(item: Item, secret_key: str) -> bool:
    return hmac.compare_digest(text(item, "secret_key").encode(), secret_key.encode())


class Onboarding:
    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def deadline() -> Deadline:
        return Deadline.after(ONBOARDING_DEADLINE_SECONDS)

    async def authorize(self, practice: PracticeRef) -> OnboardingResult:
        """Raises NotConfirmed, SikkaError (unavailable: retry later) or VaultError; writes all or nothing."""
        deadline = self.deadline()
        listed = await self.services.gateway.authorized_practices(deadline)
        item = listing_for(listed, practice.office_id, practice.practice_id)
        if item is None:
            if any(text(i, "office_id") == practice.office_id for i in listed):
                raise NotConfirmed("practice id not listed for this office")
            return OnboardingResult(IntegrationStatus.PENDING)
        if not same_secret(item, practice.secret_key):
            raise NotConfirmed("secret key differs from Sikka's")
        return await self.activate(item, deadline)

    async def activate(self, item: Item, deadline: Deadline) -> OnboardingResult:
        """Exchange a request_key for a listed practice, then write account, secret and integration together."""
        office_id, practice_id, secret_key = (
            text(item, "office_id"),
            text(item, "practice_id"),
            text(item, "secret_key"),
        )
        granted_at = utcnow()
        try:
            grant = await exchange_request_key(self.services.sikka, office_id, secret_key, deadline, granted_at)
        except (PracticeNotAuthorized, SikkaAuthError) as exc:
            raise NotConfirmed(f"request_key exchange refused ({exc.code})") from None
        pms = text(item, "practice_management_system")
        credentials = PracticeCredentials(
            office_id=office_id,
            secret_key=secret_key,
            practice_id=practice_id,
            practice_name=text(item, "practice_name"),
            pms_type=pms,
            time_zone=resolve_zone_name(
                text(item, "practice_management_system_refresh_date_time_zone"), text(item, "state")
            ),
            request_key=grant.request_key,
            refresh_key=grant.refresh_key,
            token_expiry=grant.expires_at,
            token_issued_at=granted_at,
        )
        pmses = await self.services.gateway.supported_pmses(deadline)
        return await self._store(credentials, item, _features(Capabilities.for_pms(pms, pmses)))

    async def _store(self, credentials: PracticeCredentials, item: Item, features: dict[str, bool]) -> OnboardingResult:
        vault = self.services.vault
        async with self.services.sessions.begin() as session:
            integration, created = await _get_or_create(session, credentials)
            ref = await vault.put(integration.account_id, credentials, session)
            integration.status = IntegrationStatus.ACTIVE
            integration.secret_name = ref.name
            integration.secret_arn = ref.arn
            integration.pms_type = credentials.pms_type
            integration.time_zone = credentials.time_zone
            integration.features = features
            integration.meta = _metadata(item)
            integration.last_sync_at = utcnow()
            integration.last_error = None
            account_id = integration.account_id
        self.services.gateway.metadata_cache.invalidate(account_id)
        log.info("practice active", account_id=account_id, created=created)
        return OnboardingResult(IntegrationStatus.ACTIVE, account_id, created)

    async def deauthorize(self, office_id: str, practice_id: str) -> OnboardingResult:
        """Raises StillAuthorized while Sikka lists the practice; SikkaError/VaultError to retry later."""
        deadline = self.deadline()
        listed = await self.services.gateway.authorized_practices(deadline)
        if listing_for(listed, office_id, practice_id) is not None:
            raise StillAuthorized("Sikka still lists the practice")
        async with self.services.sessions() as session:
            integration = await session.scalar(
                select(PmsIntegration).where(
                    PmsIntegration.office_id == office_id, PmsIntegration.practice_id == practice_id
                )
            )
        if integration is None:
            return OnboardingResult(IntegrationStatus.REVOKED)
        await self._revoke_sikka_keys(integration.account_id, deadline)
        await self.revoke(integration.account_id, IntegrationStatus.REVOKED)
        return OnboardingResult(IntegrationStatus.REVOKED, integration.account_id)

    async def revoke(self, account_id: str, status: IntegrationStatus) -> None:
        """Mark the integration, revoke its tokens and schedule its secret for deletion, together."""
        async with self.services.sessions.begin() as session:
            await session.execute(
                update(PmsIntegration)
                .where(PmsIntegration.account_id == account_id)
                .values(status=status, last_sync_at=utcnow(), updated_at=utcnow())
            )
            await revoke_account_tokens(session, account_id)
            if status == IntegrationStatus.REVOKED:
                with contextlib.suppress(SecretNotFound):
                    await self.services.vault.schedule_deletion(account_id, SECRET_RECOVERY_DAYS, session)
        self.services.tokens.forget_account(account_id)

    async def _revoke_sikka_keys(self, account_id: str, deadline: Deadline) -> None:
        try:
            credentials = await self.services.vault.reload(account_id)
            await revoke_keys(self.services.sikka, credentials, deadline)
        except (SikkaError, VaultError) as exc:  # the practice already cut access; its keys may be dead
            log.info("sikka key revocation skipped", account_id=account_id, error=type(exc).__name__)


def _features(capabilities: Capabilities) -> dict[str, bool]:
    return {
        "new_patient_writeback": capabilities.new_patient,
        "new_appointment_writeback": capabilities.new_appointment,
        "appointment_status_writeback": capabilities.appointment_status,
        "appointment_reschedule_writeback": capabilities.reschedule,
        "patient_update_writeback": capabilities.patient_update,
    }


def _metadata(item: Item) -> dict[str, Any]:
    """Practice facts worth keeping (no secrets, no PHI)."""
    keys = (
        "practice_name",
        "practice_management_system",
        "practice_management_system_version",
        "city",
        "state",
    )
    return {key: text(item, key) for key in keys if text(item, key)}


async def _get_or_create(session: AsyncSession, credentials: PracticeCredentials) -> tuple[PmsIntegration, bool]:
    """The practice's integration row (locked on PostgreSQL); created with its account on first sight.
    The unique (office_id, practice_id) constraint decides races between concurrent deliveries."""
    query = (
        select(PmsIntegration)
        .where(
            PmsIntegration.office_id == credentials.office_id,
            PmsIntegration.practice_id == credentials.practice_id,
        )
        .with_for_update()
    )
    existing = await session.scalar(query)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            account = Account(name=credentials.practice_name or credentials.office_id)
            session.add(account)
            await session.flush()
            integration = PmsIntegration(
                account_id=account.id, office_id=credentials.office_id, practice_id=credentials.practice_id
            )
            session.add(integration)
            await session.flush()
        return integration, True
    except IntegrityError:
        existing = await session.scalar(query.execution_options(populate_existing=True))
        if existing is None:
            raise
        return existing, False


@dataclass
class SyncReport:
    activated: list[str]
    unlisted: list[str]
    failed: list[str]  # "office/practice: reason" (no secrets)


async def sync_practices(services: Services) -> SyncReport:
    """Reconcile with `authorized_practices`: activate every listed practice that is not active yet, and flag
    active ones Sikka no longer lists (UNLISTED: their tokens stop working until they are listed again)."""
    onboarding = Onboarding(services)
    listed = await services.gateway.authorized_practices(Onboarding.deadline())
    async with services.sessions() as session:
        integrations = {(i.office_id, i.practice_id): i for i in await session.scalars(select(PmsIntegration))}
    report = SyncReport([], [], [])
    for item in listed:
        key = (text(item, "office_id"), text(item, "practice_id"))
        current = integrations.get(key)
        if current is not None and current.status == IntegrationStatus.ACTIVE:
            continue
        try:
            result = await onboarding.activate(item, Onboarding.deadline())
        except (NotConfirmed, SikkaError, VaultError) as exc:
            report.failed.append(f"{key[0]}/{key[1]}: {type(exc).__name__}")
            continue
        report.activated.append(str(result.account_id))
    listed_keys = {(text(i, "office_id"), text(i, "practice_id")) for i in listed}
    for key, integration in integrations.items():
        if integration.status == IntegrationStatus.ACTIVE and key not in listed_keys:
            await onboarding.revoke(integration.account_id, IntegrationStatus.UNLISTED)
            report.unlisted.append(integration.account_id)
    return report
