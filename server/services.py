"""The service container: everything a request needs, built once at startup (nothing at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.audit.chain import KnownHeads
from server.audit.record import AuditWriter, note_upstream
from server.auth import PracticeTokenVerifier
from server.db.engine import DATABASE_ERRORS as DATABASE_ERRORS  # what the database raises when it is gone
from server.db.engine import create_engine, session_factory
from server.db.models import utcnow
from server.delivery import InboxDelivery
from server.inbox import StaffInbox
from server.intents import WriteIntents
from server.leases import Leases
from server.mail import Mailer, SesMailer, StaffEmails
from server.metrics import Metrics
from server.notify import ATTEMPT_TIMEOUT, NotifyEndpoints
from server.phi.blind_index import BlindIndex
from server.phi.cipher import PhiCipher
from server.phi.keys import KeyProvider, key_provider_from_settings
from server.phi.store import PhiStore
from server.prefetch import Prefetcher
from server.prefetch_store import PrefetchStore
from server.promises import IN_FLIGHT_MARGIN, WriteFollower
from server.settings import Settings
from server.sikka.client import SikkaClient
from server.sikka.gateway import SikkaGateway
from server.sikka.keys import RequestKeys
from server.sikka.writeback import Writebacks
from server.throttle import AttemptLimiter
from server.vault.base import Vault
from server.vault.cached import CachedVault
from server.vault.local import LocalVault

HTTP_POOL = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metrics: Metrics
    cipher: PhiCipher
    vault: CachedVault
    sikka: SikkaClient
    request_keys: RequestKeys
    gateway: SikkaGateway
    intents: WriteIntents
    follower: WriteFollower
    audit: AuditWriter
    blind_index: BlindIndex
    phi_store: PhiStore
    prefetcher: Prefetcher
    tokens: PracticeTokenVerifier
    attempts: AttemptLimiter
    leases: Leases
    inbox: StaffInbox
    notify_endpoints: NotifyEndpoints
    staff_emails: StaffEmails
    delivery: InboxDelivery
    clock: Callable[[], datetime] = utcnow  # aware UTC: a tool call's `now` (tests pass a frozen one)

    async def aclose(self) -> None:
        self.prefetcher.close()
        await self.sikka.http.aclose()
        await self.delivery.http.aclose()
        await self.engine.dispose()

    async def database_ready(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not ready"; /readyz reports it, never raises
            return False
        return True


def build_vault(settings: Settings, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher) -> Vault:
    if settings.secrets_backend == "aws":
        import boto3

        from server.vault.aws import AwsVault

        client = boto3.client("secretsmanager", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
        return AwsVault(client, settings.secrets_prefix, settings.kms_key_for_secrets)
    return LocalVault(sessions, cipher, settings.secrets_prefix)


def build_services(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    sikka_transport: httpx.AsyncBaseTransport | None = None,
    keys: KeyProvider | None = None,
) -> Services:
    """Build the container; refuses (ConfigError) without a PHI key. Nothing connects until first use."""
    cipher = PhiCipher(keys or key_provider_from_settings(settings))
    metrics = metrics or Metrics()
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    vault = CachedVault(build_vault(settings, sessions, cipher))
    http = httpx.AsyncClient(transport=sikka_transport, limits=HTTP_POOL, headers={"Accept": "application/json"})
    sikka = SikkaClient(
        http=http,
        base_url=settings.sikka_api_url,
        app_id=settings.sikka_app_id.get_secret_value() if settings.sikka_app_id else "",
        app_key=settings.sikka_app_key.get_secret_value() if settings.sikka_app_key else "",
        metrics=metrics,
        on_request=note_upstream,
    )
    request_keys = RequestKeys(
        sikka,
        vault,
        sessions,
        refresh_margin=timedelta(seconds=settings.sikka_refresh_margin_seconds),
        row_lock=engine.dialect.name == "postgresql",
        metrics=metrics,
    )
    inbox = StaffInbox(sessions, cipher, email_enabled=settings.email_enabled)
    heads = KnownHeads()  # the audit chain heads this process committed, shared by its two audit writers
    intents = WriteIntents(sessions, cipher, inbox, heads, row_lock=engine.dialect.name == "postgresql")
    writebacks = Writebacks(sikka, request_keys, intents, budget_seconds=settings.writeback_budget_seconds)
    follower = WriteFollower(
        writebacks,
        intents,
        request_keys,
        max_pending=timedelta(seconds=settings.writeback_max_pending_seconds),
        in_flight=timedelta(seconds=settings.sikka_deadline_seconds) + IN_FLIGHT_MARGIN,
        metrics=metrics,
    )
    blind_index = BlindIndex(sessions, cipher)
    gateway = SikkaGateway(sikka, request_keys, writebacks, settings.metadata_cache_seconds)
    audit = AuditWriter(sessions, heads)
    endpoints = NotifyEndpoints(sessions, cipher)
    staff_emails = StaffEmails(sessions)
    notify_http = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT, follow_redirects=False)
    delivery = InboxDelivery(
        sessions, inbox, endpoints, staff_emails, notify_http, build_mailer(settings), metrics=metrics
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        metrics=metrics,
        cipher=cipher,
        vault=vault,
        sikka=sikka,
        request_keys=request_keys,
        gateway=gateway,
        intents=intents,
        follower=follower,
        audit=audit,
        blind_index=blind_index,
        phi_store=PhiStore(sessions, cipher, blind_index),
        prefetcher=Prefetcher(PrefetchStore(sessions, cipher, blind_index), gateway, audit, settings, metrics),
        tokens=PracticeTokenVerifier(sessions, settings.token_cache_seconds),
        attempts=AttemptLimiter(sessions),
        leases=Leases(sessions),
        inbox=inbox,
        notify_endpoints=endpoints,
        staff_emails=staff_emails,
        delivery=delivery,
    )


def build_mailer(settings: Settings) -> Mailer | None:
    """SES when a sender is configured (with its TLS-requiring configuration set); no email otherwise."""
    if not settings.ses_sender or not settings.ses_configuration_set:
        return None
    import boto3

    client = boto3.client("sesv2", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    return SesMailer(client, settings.ses_sender, settings.ses_configuration_set)


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    sikka_transport: httpx.AsyncBaseTransport | None = None,
    keys: KeyProvider | None = None,
) -> AsyncIterator[Services]:
    """Build the container and release its connections on exit (for CLI commands and tests)."""
    services = build_services(settings, metrics=metrics, sikka_transport=sikka_transport, keys=keys)
    try:
        yield services
    finally:
        await services.aclose()
