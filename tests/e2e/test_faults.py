"""The fault matrix: every tool under each upstream and local failure answers with its documented outcome and a
speakable sentence within the deadline, is audited (or fails closed without a database), and the service
keeps serving afterwards."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.main import create_app
from sandbox import DEMO_OFFICE_ID
from sandbox.schedule import open_hours
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from server.services import Services, build_services
from server.vault.base import VaultUnavailable
from tests.support import Stack, call, identity, mcp_client, practice_today, running_stack, serve
from tools.base import AUDIT_FAILED

pytestmark = pytest.mark.anyio
DEADLINE = 2.0
SLACK = 1.5  # HTTP, MCP and audit on top of the Sikka deadline
READS = ("searchPatients", "getPatientInfo", "checkAvailability")
WRITES = ("createPatient", "updatePatient", "bookAppointment", "rescheduleAppointment", "cancelAppointment")
UNREACHABLE_DB = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
NINE_AM = 9 * 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("faults") / "parlae.db"
    with running_stack(
        f"sqlite+aiosqlite:///{database}", sikka_deadline_seconds=DEADLINE, writeback_budget_seconds=1.0
    ) as running:
        services = build_services(running.settings)
        with serve(create_app(running.settings, services=services)) as server:
            running.app_url = server.url  # this server's services can be broken on purpose
            running.extra["services"] = services
            yield running


def services_of(stack: Stack) -> Services:
    services: Services = stack.extra["services"]
    return services


class Arguments:
    """Fresh, valid arguments for each tool, read from the sandbox's current state."""

    serial = itertools.count(1)  # shared by every instance: new patients and start times never repeat

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def patient(self) -> dict[str, str]:
        practice = self.stack.sandbox.practice(DEMO_OFFICE_ID)
        today = practice_today().isoformat()
        owners = {
            a["patient_id"]
            for a in practice.appointments.values()
            if a["cancelled"] != "True" and a["date"][:10] > today
        }
        return next(p for p in practice.patients.values() if p["patient_id"] in owners and p["status"] == "Active")

    def appointment_of(self, patient: dict[str, str]) -> dict[str, str]:
        today = practice_today().isoformat()
        return next(
            a
            for a in self.stack.sandbox.practice(DEMO_OFFICE_ID).appointments.values()
            if a["patient_id"] == patient["patient_id"] and a["cancelled"] != "True" and a["date"][:10] > today
        )

    def start_time(self, provider_id: str = "") -> str:
        """09:00 on a day, at least 60 days out, when the practice (and `provider_id`) works at 09:00-09:30,
        read from the sandbox's own schedule (not from the weekday)."""
        schedule = self.stack.sandbox.practice(DEMO_OFFICE_ID).schedule
        day = practice_today() + timedelta(days=60 + next(self.serial))

        def open_at_nine(day: date) -> bool:
            hours = open_hours(schedule, day, provider_id=provider_id)
            return any(start <= NINE_AM and end >= NINE_AM + 30 for start, end in hours)

        while not open_at_nine(day):
            day += timedelta(days=1)
        return f"{day.isoformat()}T09:00:00"

    def __call__(self, tool: str) -> dict[str, Any]:
        patient = self.patient()
        appointment = self.appointment_of(patient)
        me = identity(patient)
        n = next(self.serial)
        return {
            "searchPatients": {"phone": patient["cell"]},
            "getPatientInfo": me,
            "checkAvailability": {"date": self.start_time()[:10]},
            "createPatient": {  # a new name (letters only) and phone each time: never on file
                "firstName": "Fault",
                "lastName": "Tester" + "".join(chr(ord("a") + int(digit)) for digit in str(n)),
                "dateOfBirth": "1990-01-01",
                "phone": f"212-555-{1000 + n:04d}",
            },
            "updatePatient": {**me, "email": f"fault{n}@example.com"},
            "bookAppointment": {**me, "startTime": self.start_time()},
            "rescheduleAppointment": {
                **me,
                "appointmentId": appointment["appointment_sr_no"],
                "newStartTime": self.start_time(appointment["provider_id"]),
            },
            "cancelAppointment": {**me, "appointmentId": appointment["appointment_sr_no"]},
        }[tool]


@contextmanager
def broken_vault(services: Services) -> Iterator[None]:
    inner = services.vault.inner
    original = inner.get

    async def unavailable(account_id: str) -> Any:
        raise VaultUnavailable("vault unreachable")

    inner.get = unavailable  # type: ignore[method-assign]
    services.vault.invalidate_all()
    try:
        yield
    finally:
        inner.get = original  # type: ignore[method-assign]


@contextmanager
def broken_database(services: Services) -> Iterator[None]:
    """Every session of the running service goes to a database that refuses connections."""
    dead = create_engine(UNREACHABLE_DB, pool_size=1, max_overflow=0, pool_pre_ping=False)
    dead_sessions = session_factory(dead)
    holders: list[Any] = [
        services,
        services.audit,
        services.phi_store,
        services.blind_index,
        services.request_keys,
        services.follower.ledger,
    ]
    originals = [holder.sessions for holder in holders]
    for holder in holders:
        holder.sessions = dead_sessions
    try:
        yield
    finally:
        for holder, original in zip(holders, originals, strict=True):
            holder.sessions = original


# Sikka fault (a sandbox rule on every endpoint) -> the documented (outcome, code) every tool answers.
MATRIX: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    "latency past the deadline": ({"latency_seconds": DEADLINE + 3}, ("unavailable", "upstream_unavailable")),
    "429 with reset": ({"rate_limit_reset": 30}, ("unavailable", "rate_limited")),
    "500": ({"error_code": "API2001"}, ("unavailable", "upstream_unavailable")),
    "503": ({"error_code": "API2002"}, ("unavailable", "upstream_unavailable")),
    "504": ({"error_code": "API2022"}, ("unavailable", "upstream_unavailable")),
    "malformed JSON": ({"malformed": True}, ("unavailable", "upstream_unavailable")),
    "HTTP-200 error code": ({"error_code": "API4002", "status": 200}, ("unavailable", "upstream_rejected")),
    "SPU offline": ({"error_code": "API2017", "status": 412}, ("unavailable", "practice_offline")),
}


async def audited(db: async_sessionmaker[Any], call_id: str) -> int:
    """The call's own audit records (a write it sent adds records of its own: `write.requested`, `write.outcome`)."""
    tool_call = (AuditLog.vapi_call_id == call_id) & AuditLog.action.not_like("write.%")
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditLog).where(tool_call)) or 0)


@pytest.fixture
async def db(stack: Stack) -> Any:
    engine = create_engine(stack.settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


async def run(stack: Stack, tool: str, arguments: dict[str, Any], call_id: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    async with mcp_client(stack.mcp_url, stack.token, call_id=call_id) as client:
        result = await call(client, tool, arguments)
    return result, time.monotonic() - started


async def still_serving(stack: Stack) -> None:
    async with mcp_client(stack.mcp_url, stack.token) as client:
        result = await call(client, "checkAvailability", {"date": (practice_today() + timedelta(days=9)).isoformat()})
    assert result["outcome"] in ("ok", "not_found"), result


def speakable(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message and len(message) < 200


@pytest.mark.parametrize("fault", list(MATRIX))
@pytest.mark.parametrize("tool", READS + WRITES)
async def test_upstream_faults(stack: Stack, db: Any, fault: str, tool: str) -> None:
    rule, expected = MATRIX[fault]
    arguments = Arguments(stack)(tool)
    await still_serving(stack)  # warm: metadata cached, a valid key held
    stack.sandbox.faults.add(endpoint="*", **rule)
    call_id = f"fault-{fault}-{tool}".replace(" ", "-")
    try:
        result, elapsed = await run(stack, tool, arguments, call_id)
    finally:
        stack.sandbox.faults.clear()
    assert (result["outcome"], result["code"]) == expected, result
    assert result["isError"]
    assert speakable(result["message"])
    assert elapsed < DEADLINE + SLACK
    assert await audited(db, call_id) == 1
    await still_serving(stack)


@pytest.mark.parametrize("tool", READS + WRITES)
async def test_a_key_expiring_mid_run_is_replaced_transparently(stack: Stack, db: Any, tool: str) -> None:
    arguments = Arguments(stack)(tool)
    stack.sandbox.expire_request_keys()
    call_id = f"expired-{tool}"
    result, _ = await run(stack, tool, arguments, call_id)
    assert result["outcome"] not in ("unavailable", "invalid"), result
    assert await audited(db, call_id) == 1


@pytest.mark.parametrize(
    ("tool", "code"),
    [
        ("bookAppointment", "booking_failed"),
        ("rescheduleAppointment", "reschedule_failed"),
        ("cancelAppointment", "cancel_failed"),
        ("createPatient", "registration_failed"),
    ],
)
async def test_writeback_failure(stack: Stack, db: Any, tool: str, code: str) -> None:
    arguments = Arguments(stack)(tool)
    await still_serving(stack)
    stack.sandbox.faults.add(endpoint="*", writeback_failure="The practice system rejected the change")
    call_id = f"writeback-{tool}"
    try:
        result, elapsed = await run(stack, tool, arguments, call_id)
    finally:
        stack.sandbox.faults.clear()
    assert (result["outcome"], result["code"]) == ("refused", code), result
    assert speakable(result["message"])
    assert elapsed < DEADLINE + SLACK
    assert await audited(db, call_id) == 1


@pytest.mark.parametrize("tool", READS + WRITES)
async def test_vault_unavailable(stack: Stack, db: Any, tool: str) -> None:
    arguments = Arguments(stack)(tool)
    call_id = f"vault-{tool}"
    with broken_vault(services_of(stack)):
        result, _ = await run(stack, tool, arguments, call_id)
    assert (result["outcome"], result["code"]) == ("unavailable", "credentials_unavailable"), result
    assert speakable(result["message"])
    assert await audited(db, call_id) == 1
    await still_serving(stack)


@pytest.mark.parametrize("tool", READS + WRITES)
async def test_database_unavailable_fails_closed(stack: Stack, db: Any, tool: str) -> None:
    arguments = Arguments(stack)(tool)
    call_id = f"database-{tool}"
    with broken_database(services_of(stack)):
        result, elapsed = await run(stack, tool, arguments, call_id)
    assert result["isError"]
    assert set(result) == {"message", "isError"}  # no structured data, no PHI
    assert result["message"] == AUDIT_FAILED
    assert elapsed < DEADLINE + SLACK
    assert await audited(db, call_id) == 0
    await still_serving(stack)
