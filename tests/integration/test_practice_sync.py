"""The practice sync (server/practice_sync.py) against the sandbox over HTTP, run step by step: onboarding,
data readiness, API access, two-miss deactivation and return, failures that change nothing, the audit record,
the metrics, office-scoped syncs, the scheduler's turn and the lease's fencing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from sandbox import (
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_NAME,
    DEMO_SECOND_PRACTICE_ID,
    DEMO_SECRET_KEY,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
)
from server.auth import PracticeTokenVerifier, issue_token
from server.db.models import AuditLog, IntegrationStatus, PmsIntegration, SyncLease
from server.leases import LeaseLost
from server.practice_sync import (
    SYNC_LEASE,
    Change,
    SyncReport,
    claim,
    covers,
    run_sync,
    scheduled_sync,
)
from server.services import Services, open_services
from server.settings import Settings
from server.sikka.client import Deadline
from server.sikka.errors import PracticeNotAuthorized, SikkaError
from server.vault.base import SecretNotFound
from tests.support import SECOND_OFFICE, SECOND_SECRET, serve, stack_settings

pytestmark = pytest.mark.anyio
DEMO = (DEMO_OFFICE_ID, "1")
BROOKLYN = (DEMO_OFFICE_ID, DEMO_SECOND_PRACTICE_ID)
SECOND = (SECOND_OFFICE, "1")


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxState, str]]:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    with serve(create_sandbox_app(state)) as server:
        yield state, server.url


@pytest.fixture
def settings(database_url: str, sandbox: tuple[SandboxState, str]) -> Settings:
    return stack_settings(database_url, sandbox[1])


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as services:
        yield services


@pytest.fixture
def state(sandbox: tuple[SandboxState, str]) -> SandboxState:
    return sandbox[0]


async def sync(services: Services, *, actor: str = "cli", office_id: str | None = None) -> SyncReport:
    lease = await claim(services)
    assert lease is not None, "no other sync runs in these tests"
    return await run_sync(services, lease, actor=actor, office_id=office_id)


async def integration(services: Services, office_id: str, practice_id: str) -> PmsIntegration:
    query = select(PmsIntegration).filter_by(office_id=office_id, practice_id=practice_id)
    async with services.sessions() as session:
        found = await session.scalar(query)
    assert found is not None, f"no integration for {office_id}/{practice_id}"
    return found


def changed(report: SyncReport, change: Change) -> set[tuple[str, str]]:
    return {(c.office_id, c.practice_id) for c in report.changes if c.change == change}


def uncached(services: Services) -> PracticeTokenVerifier:
    """Token verification without the cache (a refusal is cached for a few seconds)."""
    return PracticeTokenVerifier(services.sessions, ttl_seconds=0)


def sample(services: Services, name: str, **labels: str) -> float:
    return services.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_full_sync_onboards_every_listed_location_once(services: Services, state: SandboxState) -> None:
    first = await sync(services)
    assert changed(first, Change.ACTIVATED) == {DEMO, BROOKLYN}  # location 2 is listed only with show=all
    assert first.counts() == {**dict.fromkeys(map(str, Change), 0), "activated": 2, "unchanged": 0}
    for office, practice in (DEMO, BROOKLYN):
        row = await integration(services, office, practice)
        assert (row.status, row.api_access, row.missed_syncs) == (IntegrationStatus.ACTIVE, "on", 0)
        assert (await services.vault.reload(row.account_id)).practice_id == practice
    assert state.counters["POST /practice_location"] == 0  # the sandbox shows both locations' access on
    exchanges = state.counters["POST /request_key:request_key"]

    second = await sync(services)
    assert (second.changes, second.unchanged) == ([], 2)
    assert state.counters["POST /request_key:request_key"] == exchanges
    assert state.counters["GET /practice_location"] == 1  # access is known now: not read again


async def test_a_location_with_access_off_is_turned_on_first_then_keyed(
    services: Services, state: SandboxState
) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7, access=False)
    report = await sync(services, office_id=SECOND_OFFICE)
    assert changed(report, Change.ACTIVATED) == changed(report, Change.ACCESS_ON) == {SECOND}
    assert state.practice(SECOND_OFFICE).access
    assert state.counters["POST /request_key:request_key"] == 1  # after access was on: no grant was refused
    assert (await integration(services, *SECOND)).api_access == "on"
    again = await sync(services, office_id=SECOND_OFFICE)
    assert (again.changes, again.unchanged) == ([], 1)
    assert state.counters["POST /practice_location"] == 1
    assert state.counters["GET /practice_location"] == 1  # stored "on" with the location: not read again


async def test_access_that_cannot_be_turned_on_holds_the_location_until_the_next_sync(
    services: Services, state: SandboxState
) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7, access=False)
    state.faults.add(endpoint="practice_location", method="POST", error_code="API2002", count=1)
    report = await sync(services, office_id=SECOND_OFFICE)
    assert [(c.change, c.reason) for c in report.changes] == [(Change.FAILED, "access: SikkaUnavailable")]
    assert state.counters["POST /request_key:request_key"] == 0  # no key asked for while access is off
    async with services.sessions() as session:
        assert (await session.scalars(select(PmsIntegration))).all() == []
    retried = await sync(services, office_id=SECOND_OFFICE)
    assert changed(retried, Change.ACCESS_ON) == changed(retried, Change.ACTIVATED) == {SECOND}
    assert (await integration(services, *SECOND)).api_access == "on"


async def test_access_turned_off_later_is_turned_on_again_after_sikka_refuses_a_grant(
    services: Services, state: SandboxState
) -> None:
    await sync(services)
    demo = await integration(services, *DEMO)
    state.set_access(DEMO_OFFICE_ID, [DEMO_SECOND_PRACTICE_ID], False)  # the office switched a location off
    state.expire_request_keys()
    with pytest.raises(PracticeNotAuthorized):  # the refresh grant is refused (API2007)
        await services.gateway.practice(demo.account_id, Deadline.after(10)).items("patients", {"limit": 1})
    assert (await integration(services, *DEMO)).api_access is None  # what we knew of its access is stale
    report = await sync(services)
    assert changed(report, Change.ACCESS_ON) == {BROOKLYN}
    assert await services.gateway.practice(demo.account_id, Deadline.after(10)).items("patients", {"limit": 1})


async def test_a_location_waits_pending_until_its_data_is_uploaded(services: Services, state: SandboxState) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7, uploaded=False)
    report = await sync(services, office_id=SECOND_OFFICE)
    assert changed(report, Change.PENDING) == {SECOND}
    row = await integration(services, *SECOND)
    assert row.status == IntegrationStatus.PENDING
    assert (await services.vault.reload(row.account_id)).office_id == SECOND_OFFICE  # credentials stored already
    token = (await issue_token(services.sessions, row.account_id)).token
    assert await services.tokens.verify(token) is None
    exchanges = state.counters["POST /request_key:request_key"]

    still = await sync(services, office_id=SECOND_OFFICE)
    assert changed(still, Change.PENDING) == {SECOND}
    assert state.counters["POST /request_key:request_key"] == exchanges  # nothing redone while waiting

    state.set_uploaded(SECOND_OFFICE, "1")
    ready = await sync(services, office_id=SECOND_OFFICE)
    assert changed(ready, Change.ACTIVATED) == {SECOND}
    caller = await uncached(services).verify(token)  # (the refusal above is cached for a few seconds)
    assert caller is not None
    assert caller.account_id == row.account_id


async def test_a_location_in_an_unknown_time_zone_is_stored_but_never_served(
    services: Services, state: SandboxState
) -> None:
    state.add_practice(
        SECOND_OFFICE,
        secret_key=SECOND_SECRET,
        name="Second Smile Dental",
        seed=7,
        time_zone="Hora estándar del Pacífico",
    )
    report = await sync(services, office_id=SECOND_OFFICE)
    assert [(c.change, c.reason) for c in report.changes] == [(Change.FAILED, "zone: UnknownZone")]
    row = await integration(services, *SECOND)
    assert (row.status, row.last_error) == (IntegrationStatus.PENDING, "unknown time zone 'Hora estándar del Pacífico'")
    assert state.counters["POST /request_key:request_key"] == 0  # no keys for a practice that cannot be served
    assert await services.tokens.verify((await issue_token(services.sessions, row.account_id)).token) is None
    again = await sync(services)  # every sync tries again (no key exchange) and counts it
    assert changed(again, Change.FAILED) == {SECOND}
    assert state.counters["POST /request_key:request_key"] == 2  # the demo office's two locations only
    assert sample(services, "parlae_practice_sync_locations_total", change="failed") == 2


async def test_a_location_in_a_zone_outside_the_us_mainland_is_served_in_its_zone(
    services: Services, state: SandboxState
) -> None:
    state.add_practice(
        SECOND_OFFICE,
        secret_key=SECOND_SECRET,
        name="Sonrisa Dental",
        seed=7,
        time_zone="SA Western Standard Time",
        state="PR",
    )
    assert changed(await sync(services, office_id=SECOND_OFFICE), Change.ACTIVATED) == {SECOND}
    row = await integration(services, *SECOND)
    assert (row.time_zone, row.last_error) == ("America/Puerto_Rico", None)  # was America/New_York: an hour off
    metadata = await services.gateway.practice(row.account_id, Deadline.after(10)).metadata()
    assert metadata.zone.key == "America/Puerto_Rico"


async def test_a_new_secret_key_on_sikka_is_taken_up_by_the_next_sync(services: Services, state: SandboxState) -> None:
    await sync(services)
    account_id = (await integration(services, *DEMO)).account_id
    patients = services.gateway.practice(account_id, Deadline.after(10)).items
    assert await patients("patients", {"limit": 1})
    state.set_secret_key(DEMO_OFFICE_ID, "n" * 32)  # the office authorised the app again; its old keys are dead
    with pytest.raises(SikkaError):
        await services.gateway.practice(account_id, Deadline.after(10)).items("patients", {"limit": 1})

    report = await sync(services)
    assert changed(report, Change.REKEYED) == {DEMO, BROOKLYN}
    assert (await services.vault.reload(account_id)).secret_key == "n" * 32
    assert (await integration(services, *DEMO)).status == IntegrationStatus.ACTIVE
    assert await services.gateway.practice(account_id, Deadline.after(10)).items("patients", {"limit": 1})
    assert changed(await sync(services), Change.REKEYED) == set()  # the same key again: nothing to do


async def test_a_location_missing_twice_in_a_row_is_deactivated_until_listed_again(
    services: Services, state: SandboxState
) -> None:
    await sync(services)
    demo = await integration(services, *DEMO)
    token = (await issue_token(services.sessions, demo.account_id)).token
    assert await services.tokens.verify(token) is not None  # and now cached
    state.set_listed(*DEMO, False)
    reads = state.counters["GET /authorized_practices"]

    first = await sync(services)
    assert changed(first, Change.MISSED) == {DEMO}
    assert state.counters["GET /authorized_practices"] == reads + 2  # no other office listed: a second read agreed
    assert first.unchanged == 1
    row = await integration(services, *DEMO)
    assert (row.status, row.missed_syncs) == (IntegrationStatus.ACTIVE, 1)
    assert await services.tokens.verify(token) is not None  # one miss: still serving

    second = await sync(services)
    assert changed(second, Change.DEACTIVATED) == {DEMO}
    assert (await integration(services, *DEMO)).status == IntegrationStatus.INACTIVE
    assert await services.tokens.verify(token) is None  # refused at once in this process
    with pytest.raises(SecretNotFound):
        await services.vault.reload(demo.account_id)  # scheduled for deletion
    assert state.counters["DELETE /refresh_key"] == 1  # its Sikka keys revoked
    third = await sync(services)
    assert third.changes == []

    state.set_listed(*DEMO, True)
    back = await sync(services)
    assert changed(back, Change.ACTIVATED) == {DEMO}
    row = await integration(services, *DEMO)
    assert (row.account_id, row.status, row.missed_syncs) == (demo.account_id, IntegrationStatus.ACTIVE, 0)
    assert (await services.vault.reload(demo.account_id)).office_id == DEMO_OFFICE_ID  # restored
    assert await uncached(services).verify(token) is not None  # the assistant's token works again


async def test_misses_count_only_in_a_row(services: Services, state: SandboxState) -> None:
    await sync(services)
    state.set_listed(*BROOKLYN, False)
    assert changed(await sync(services), Change.MISSED) == {BROOKLYN}
    state.set_listed(*BROOKLYN, True)
    assert (await sync(services)).changes == []
    assert (await integration(services, *BROOKLYN)).missed_syncs == 0
    state.set_listed(*BROOKLYN, False)
    assert changed(await sync(services), Change.MISSED) == {BROOKLYN}
    assert (await integration(services, *BROOKLYN)).status == IntegrationStatus.ACTIVE


async def test_when_sikka_cannot_be_read_nothing_changes(services: Services, state: SandboxState) -> None:
    await sync(services)
    state.set_listed(*BROOKLYN, False)
    await sync(services)
    before = await integration(services, *BROOKLYN)
    state.faults.add(endpoint="authorized_practices", error_code="API2002", count=100)
    for _ in range(2):
        with pytest.raises(SikkaError):
            await sync(services)
    after = await integration(services, *BROOKLYN)
    assert (after.status, after.missed_syncs, after.last_sync_at) == (
        before.status,
        before.missed_syncs,
        before.last_sync_at,
    )
    assert sample(services, "parlae_practice_sync_runs_total", result="failure") == 2
    async with services.sessions() as session:
        failed = (await session.scalars(select(AuditLog).where(AuditLog.outcome == "failed"))).all()
    assert [(r.action, r.error_code) for r in failed] == [("practices.sync", "SikkaUnavailable")] * 2
    assert await claim(services) is not None  # the failed run released its lease


async def test_an_empty_listing_changes_nothing_however_often(services: Services, state: SandboxState) -> None:
    await sync(services)
    for practice in state.practices():
        state.set_listed(practice.office_id, practice.practice_id, False)  # authorized_practices answers 204
    for _ in range(3):
        report = await sync(services)
        assert changed(report, Change.HELD) == {DEMO, BROOKLYN}
        assert report.count(Change.MISSED) == report.count(Change.DEACTIVATED) == 0
    for location in (DEMO, BROOKLYN):
        row = await integration(services, *location)
        assert (row.status, row.missed_syncs) == (IntegrationStatus.ACTIVE, 0)
        assert (await services.vault.reload(row.account_id)).office_id == DEMO_OFFICE_ID  # not scheduled for deletion
    assert state.counters["DELETE /refresh_key"] == state.counters["DELETE /request_key"] == 0
    assert sample(services, "parlae_practice_sync_locations_total", change="held") == 6


async def test_a_listing_that_names_other_offices_retires_a_missing_office(
    services: Services, state: SandboxState
) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7)
    await sync(services)
    for location in (DEMO, BROOKLYN):
        state.set_listed(*location, False)  # the demo office left; the second office is still listed
    reads = state.counters["GET /authorized_practices"]
    assert changed(await sync(services), Change.MISSED) == {DEMO, BROOKLYN}
    assert state.counters["GET /authorized_practices"] == reads + 1  # plausible as it is: no second read
    assert changed(await sync(services), Change.DEACTIVATED) == {DEMO, BROOKLYN}
    assert (await integration(services, *SECOND)).status == IntegrationStatus.ACTIVE


async def test_each_run_is_one_audit_record_with_counts_and_metrics(services: Services) -> None:
    await sync(services, actor="scheduler")
    async with services.sessions() as session:
        rows = (await session.scalars(select(AuditLog).where(AuditLog.action == "practices.sync"))).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.account_id, row.actor, row.outcome, row.phi_accessed) == ("system", "scheduler", "success", False)
    assert row.request_summary.startswith("every office: 2 activated, 0 pending, 0 missed, 0 deactivated")
    assert "authorized_practices" in (row.endpoint or "")
    text = json.dumps({c.name: str(getattr(row, c.key)) for c in row.__table__.columns})
    assert DEMO_PRACTICE_NAME not in text
    assert DEMO_SECRET_KEY not in text
    assert sample(services, "parlae_practice_sync_runs_total", result="success") == 1
    assert sample(services, "parlae_practice_sync_locations_total", change="added") == 2
    assert sample(services, "parlae_practice_sync_last_success_timestamp_seconds") > 0


async def test_an_office_sync_touches_only_that_office(services: Services, state: SandboxState) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7)
    report = await sync(services, actor="webhook", office_id=SECOND_OFFICE)
    assert changed(report, Change.ACTIVATED) == {SECOND}
    async with services.sessions() as session:
        offices = set(await session.scalars(select(PmsIntegration.office_id)))
    assert offices == {SECOND_OFFICE}
    assert sample(services, "parlae_practice_sync_runs_total", result="success") == 0  # full syncs only
    assert sample(services, "parlae_practice_sync_locations_total", change="added") == 1


def test_an_office_is_matched_by_office_id_or_customer_id() -> None:
    item = {"office_id": "D1", "customer_id": "C9", "practice_id": "1"}
    assert covers(item, None)
    assert covers(item, "D1")
    assert covers(item, "C9")
    assert not covers(item, "D2")
    assert not covers({"office_id": "D1"}, "")


async def test_one_replica_syncs_per_interval(settings: Settings, services: Services) -> None:
    interval = timedelta(minutes=5)
    async with open_services(settings) as other_replica:
        assert await scheduled_sync(services, interval) is not None
        assert await scheduled_sync(other_replica, interval) is None
        assert await scheduled_sync(services, interval) is None


async def test_a_sync_that_lost_its_lease_stops_before_writing(services: Services) -> None:
    lease = await claim(services)
    assert lease is not None
    async with services.sessions.begin() as session:  # it expired and another replica took it over
        await session.execute(update(SyncLease).where(SyncLease.name == SYNC_LEASE).values(holder="another"))
    lease.renewed -= lease.ttl.total_seconds()
    with pytest.raises(LeaseLost):
        await run_sync(services, lease, actor="scheduler")
    async with services.sessions() as session:
        assert (await session.scalars(select(PmsIntegration))).all() == []
        assert await session.scalar(select(SyncLease.holder)) == "another"  # not released by the loser
