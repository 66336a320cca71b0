"""Prefetch at call start (server/prefetch.py): a call's read tools answer from what its start read, exactly as
they answer fresh, without a Sikka request; nothing is disclosed before the identity check allows it; the end
of the call and the call's own writes drop it, and so does its expiry; the practice's prefetch budget holds; and
a call whose requests reach two replicas sharing the database is served by either (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select

import server.prefetch
from sandbox import create_sandbox_app
from server.caller import Caller
from server.calls import call_ended
from server.db.models import AuditLog, CallPrefetch, utcnow
from server.phones import to_e164
from server.retention import purge
from server.services import Services, open_services
from server.sikka import SikkaUnavailable
from tests.support import call, identity, open_day, patient_with_own_cell
from tests.tools.conftest import Desk, open_desk, requests_since
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio
DAYS = 7  # prefetched days: enough that the first open day from tomorrow on is among them
TOOLS = {tool.name: tool for tool in ALL_TOOLS}


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async with open_desk(f"sqlite+aiosqlite:///{tmp_path / 'prefetch.db'}", prefetch_days=DAYS) as opened:
        yield opened


def number(patient: dict[str, str]) -> str:
    e164 = to_e164(patient["cell"])
    assert e164 is not None
    return e164


async def asked(
    desk: Desk, call_id: str, caller_number: str, tool: str, arguments: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    """The tool's answer on the call, and the Sikka requests it made (key exchanges aside)."""
    before = Counter(desk.sandbox.counters)
    async with desk.client(call_id, caller_number) as client:
        result = await call(client, tool, arguments)
    return result, requests_since(desk.sandbox, before)


async def prefetched(services: Services, caller: Caller) -> None:
    assert await services.prefetcher.prefetch(caller) == "stored"


async def row(services: Services, caller: Caller) -> CallPrefetch | None:
    assert caller.call_id is not None
    key = await services.prefetcher.store.call_key(caller.account_id, caller.call_id)
    async with services.sessions() as session:
        return await session.scalar(
            select(CallPrefetch).where(CallPrefetch.account_id == caller.account_id, CallPrefetch.call_key == key)
        )


async def settled(services: Services, caller: Caller) -> str | None:
    """The state of the call's prefetch once it is no longer running (None: not claimed within 10 s)."""
    for _ in range(1000):
        found = await row(services, caller)
        if found is not None and found.state != "running":
            return found.state
        await anyio.sleep(0.01)
    return None


def reads(desk: Desk, me: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    tomorrow = open_day(desk, 1)
    return [
        ("searchPatients", {}),  # by the number the call comes from
        ("checkAvailability", {"date": tomorrow.isoformat()}),
        ("getPatientInfo", identity(me)),
    ]


async def test_prefetched_answers_are_the_fresh_answers_without_a_sikka_request(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    for tool, arguments in reads(desk, me):
        fresh, _ = await asked(desk, f"fresh-{tool}", number(me), tool, arguments)
        caller = desk.caller(f"prefetched-{tool}", number(me))
        await prefetched(desk.services, caller)
        answer, made = await asked(desk, f"prefetched-{tool}", number(me), tool, arguments)
        assert fresh["outcome"] == "ok", fresh
        assert answer == fresh, tool
        assert made == {}, tool


async def test_a_prefetch_is_audited_as_a_read_of_the_patients_on_the_number(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    await prefetched(desk.services, desk.caller("audited", number(me)))
    async with desk.services.sessions() as session:
        (entry,) = await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == "audited"))
    assert (entry.action, entry.crud, entry.outcome) == ("vapi.callPrefetched", "R", "success")
    assert (entry.phi_accessed, entry.patient_ref) == (True, me["patient_id"])
    assert {"patients", "appointments"} <= set((entry.endpoint or "").split(","))


async def test_nothing_prefetched_is_disclosed_before_the_identity_check_allows_it(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    wrong = identity(me, dateOfBirth="1901-01-01")
    fresh, _ = await asked(desk, "fresh-wrong", number(me), "getPatientInfo", wrong)
    await prefetched(desk.services, desk.caller("prefetched-wrong", number(me)))
    answer, made = await asked(desk, "prefetched-wrong", number(me), "getPatientInfo", wrong)
    assert (
        (answer["outcome"], answer["code"])
        == (fresh["outcome"], fresh["code"])
        == ("needs_verification", "identity_mismatch")
    )
    assert answer == fresh
    assert made == {}
    assert answer["patient"] is None  # no field of the record
    # The search says no more than a fresh one either: ids and names, no details.
    found, _ = await asked(desk, "prefetched-wrong", number(me), "searchPatients", {})
    assert set(found["matches"][0]) == {"patientId", "firstName", "lastName"}


async def test_the_end_of_the_call_drops_its_prefetch(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    caller = desk.caller("ended", number(me))
    await prefetched(desk.services, caller)
    ended = await call_ended(desk.services, caller)
    assert ended.prefetches_removed == 1
    stored = await row(desk.services, caller)
    assert stored is not None
    assert (stored.state, stored.data) == ("cleared", None)
    _, made = await asked(desk, "ended", number(me), "searchPatients", {})
    assert made == {"GET /patients": 3}


async def test_the_calls_own_write_drops_its_prefetch(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    day = open_day(desk, 1)
    caller = desk.caller("writes", number(me))
    await prefetched(desk.services, caller)
    found, made = await asked(desk, "writes", number(me), "checkAvailability", {"date": day.isoformat()})
    assert made == {}
    slot = found["slots"][0]
    booking = {**identity(me), "startTime": slot["startTime"], "providerId": slot["providerId"]}
    booked, made = await asked(desk, "writes", number(me), "bookAppointment", booking)
    assert booked["outcome"] == "confirmed", booked
    assert made["GET /appointments"] >= 1  # the booking re-checked its slot at Sikka
    stored = await row(desk.services, caller)
    assert stored is not None
    assert stored.state == "cleared"
    again, made = await asked(desk, "writes", number(me), "checkAvailability", {"date": day.isoformat()})
    assert made  # read from Sikka again: the booked slot is no longer offered
    assert (slot["startTime"], slot["providerId"]) not in {(s["startTime"], s["providerId"]) for s in again["slots"]}


async def test_an_expired_prefetch_answers_nothing_and_is_purged(desk: Desk) -> None:
    me = patient_with_own_cell(desk)
    caller = desk.caller("expires", number(me))
    await prefetched(desk.services, caller)
    store = desk.services.prefetcher.store
    later = utcnow() + timedelta(seconds=desk.services.settings.prefetch_ttl_seconds + 1)
    store.clock = lambda: later
    try:
        _, made = await asked(desk, "expires", number(me), "searchPatients", {})
    finally:
        store.clock = utcnow
    assert made == {"GET /patients": 3}
    counts = await purge(desk.services, dry_run=False, now=later)
    assert counts["call_prefetches"] == 1
    assert await row(desk.services, caller) is None


async def test_a_call_is_prefetched_once_and_the_practices_budget_holds(tmp_path: Path) -> None:
    async with open_desk(f"sqlite+aiosqlite:///{tmp_path / 'budget.db'}", prefetch_requests_per_minute=30) as desk:
        me = patient_with_own_cell(desk)
        prefetcher = desk.services.prefetcher
        assert prefetcher.planned_requests(number(me)) <= 30
        assert await prefetcher.prefetch(desk.caller("first", number(me))) == "stored"
        assert await prefetcher.prefetch(desk.caller("first", number(me))) == "exists"
        spent = await row(desk.services, desk.caller("first", number(me)))
        assert spent is not None
        assert 0 < spent.requests <= prefetcher.planned_requests(number(me))
        before = Counter(desk.sandbox.counters)
        outcomes = [await prefetcher.prefetch(desk.caller(f"call-{n}", number(me))) for n in range(6)]
        assert "over_budget" in outcomes
        assert sum(requests_since(desk.sandbox, before).values()) <= 30
        sample = desk.services.metrics.registry.get_sample_value
        assert sample("parlae_prefetches_total", {"result": "over_budget"}) == outcomes.count("over_budget")


async def test_with_prefetch_off_a_write_touches_no_prefetch_row(tmp_path: Path) -> None:
    async with open_desk(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", prefetch_ttl_seconds=0) as desk:
        cleared: list[str] = []

        async def clear(account_id: str, call_key: str) -> int:
            cleared.append(call_key)
            return 0

        desk.services.prefetcher.store.clear = clear  # type: ignore[method-assign]
        me = patient_with_own_cell(desk)
        await desk.call("cancelAppointment", {**identity(me), "appointmentId": "no-such"}, "off")
        assert await call_ended(desk.services, desk.caller("off")) is not None
        assert cleared == []
        assert desk.services.prefetcher.view(desk.caller("off")) is None


async def test_two_replicas_sharing_the_database_serve_one_calls_prefetch(database_url: str) -> None:
    async with open_desk(database_url, prefetch_days=DAYS) as desk:
        transport = httpx.ASGITransport(app=create_sandbox_app(desk.sandbox))  # the same Sikka
        async with open_services(desk.services.settings, sikka_transport=transport) as other:
            me = patient_with_own_cell(desk)
            caller = desk.caller("two-replicas", number(me))
            await prefetched(desk.services, caller)  # the call's start reached the first replica
            for tool, arguments in reads(desk, me):
                before = Counter(desk.sandbox.counters)
                answer = await TOOLS[tool].run(other, caller, arguments)  # its tool request, the second
                assert requests_since(desk.sandbox, before) == {}, tool
                fresh = await TOOLS[tool].run(other, desk.caller(f"fresh-{tool}", number(me)), arguments)
                assert answer == fresh, tool
            await call_ended(other, caller)  # the end reaches the second: the first serves nothing more
            before = Counter(desk.sandbox.counters)
            await TOOLS["searchPatients"].run(desk.services, caller, {})
            assert requests_since(desk.sandbox, before) == {"GET /patients": 3}


async def test_a_failed_prefetch_is_counted_serves_nothing_and_the_queue_goes_on(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = patient_with_own_cell(desk)
    prefetcher = desk.services.prefetcher
    failing, working = desk.caller("fails", number(me)), desk.caller("works", number(me))

    async def unreachable(*args: object) -> None:
        raise SikkaUnavailable("Sikka did not answer")

    real = server.prefetch.read_ahead
    monkeypatch.setattr(server.prefetch, "read_ahead", unreachable)
    async with anyio.create_task_group() as group:
        group.start_soon(prefetcher.run_forever)
        prefetcher.start(failing)
        prefetcher.start(failing)  # the call's later tool requests: queued once per call
        assert await settled(desk.services, failing) == "cleared"
        monkeypatch.setattr(server.prefetch, "read_ahead", real)
        prefetcher.start(working)
        assert await settled(desk.services, working) == "ready"
        group.cancel_scope.cancel()
    sample = desk.services.metrics.registry.get_sample_value
    assert sample("parlae_prefetches_total", {"result": "failed"}) == 1
    _, made = await asked(desk, "fails", number(me), "searchPatients", {})
    assert made == {"GET /patients": 3}
