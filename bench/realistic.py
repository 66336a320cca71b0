"""The realistic profile: what a caller waits for when Sikka answers as a real one does, a cloud API in front of
the practice's own server: each request's latency a seeded lognormal draw (median 250 ms, p99 1.5 s) and
writebacks completing 10 to 30 s after they are sent; and, to count round trips in time, a constant 250 ms.

Every call goes over `POST /vapi/tool-calls` on a new connection, as Vapi posts server tools. The sandbox's
timeline gives each call's Sikka requests and their sequential round trips (the critical path:
`sandbox.latency.sequential_round_trips`). Measured, on the warm server of the run, in this order:

- a typical phone call with the lognormal latency: searchPatients by the number the call comes from,
  getPatientInfo (the identity check), checkAvailability for a day, bookAppointment at the first opening it
  offered, hang up;
- each read tool with the lognormal latency, then at a constant 250 ms per request (its wait / 250 ms is the
  round trips a caller hears);
- the bookings' writebacks: when each completed after it was sent (`writeback_status`, read once the calls are
  done), so the budget a write would need to confirm them in the call is measured, not guessed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import anyio

from bench.measure import elapsed_ms
from bench.paths import BareHttp, checked, post_tool_call
from bench.processes import Stack
from bench.scenarios import Fixtures
from bench.upstream import Admin, Sikka
from sandbox.latency import Served, sequential_round_trips
from server.phones import to_e164

MEDIAN_MS = 250.0
P99_MS = 1500.0
WRITEBACK_SECONDS = (10.0, 30.0)
WRITES = frozenset({"POST /appointment", "PUT /appointments", "PATCH /appointments", "POST /patient"})
BUDGETS_SECONDS = (6.0, 10.0, 15.0, 20.0, 30.0)  # writeback budgets whose effect on the bookings is reported
STATUS_TIME = "%Y-%m-%d %H:%M:%S"  # writeback_status `request_time` / `completed_time`
CALL_STEPS = ("searchPatients (caller number)", "getPatientInfo", "checkAvailability", "bookAppointment")

Call = tuple[str, dict[str, Any]]


@dataclass
class Samples:
    """One tool's (or one step's) calls: the caller's wait, the Sikka requests and their sequential round trips."""

    label: str
    wait_ms: list[float] = field(default_factory=list)
    round_trips: list[int] = field(default_factory=list)
    before_write: list[int] = field(default_factory=list)  # round trips before the first write request
    requests: list[int] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add(self, wait_ms: float, served: list[Served], outcome: str) -> None:
        self.wait_ms.append(wait_ms)
        self.round_trips.append(sequential_round_trips(served))
        self.before_write.append(sequential_round_trips(before_the_write(served)))
        self.requests.append(len(served))
        self.outcomes[outcome] += 1


def before_the_write(served: list[Served]) -> list[Served]:
    """The requests answered before the first write was sent (all of them when there is none)."""
    write = next((s for s in served if s.request in WRITES), None)
    return served if write is None else [s for s in served if s.finished <= write.started]


class VapiCaller:
    """Tool calls as Vapi posts server tools, each measured against the sandbox's timeline."""

    def __init__(self, stack: Stack, admin: Admin) -> None:
        self.http = BareHttp(stack.server_url, stack.token)
        self.admin = admin

    async def call(
        self, samples: Samples, call: Call, call_id: str, caller_number: str | None = None
    ) -> dict[str, Any] | None:
        """The answer (None when the call failed: recorded as an error)."""
        await self.admin.mark()
        started = time.perf_counter()
        answer: dict[str, Any] | None = None
        try:
            async with self.http.connect() as connection:
                answer = checked(await post_tool_call(self.http, connection, *call, call_id, caller_number))
        except Exception as exc:  # counted; the run goes on
            samples.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        wait = elapsed_ms(started)
        served = await self.admin.served_since_mark()
        if answer is not None:
            samples.add(wait, own_requests(served, answer), str(answer.get("outcome")))
        return answer


def own_requests(served: list[Served], answer: dict[str, Any]) -> list[Served]:
    """A call's requests: of the writeback polls only its own writeback's (the server's background follower
    polls the pending ones meanwhile)."""
    own = [str(answer.get("reference") or "")]
    return [s for s in served if s.request != "GET /writeback_status" or parse_qs(s.query).get("id") == own]


def read_calls(fixtures: Fixtures) -> dict[str, Callable[[int], Call]]:
    """The read tools, with the arguments of their i-th sample (patients and days rotate)."""

    def name(i: int) -> str:
        patient = fixtures.patient(i)
        return f"{patient.first_name} {patient.last_name}"

    def identity(i: int) -> dict[str, str]:
        return fixtures.patient(i).identity

    return {
        "searchPatients (phone)": lambda i: ("searchPatients", {"phone": fixtures.patient(i).spoken_phone}),
        "searchPatients (name)": lambda i: ("searchPatients", {"name": name(i)}),
        "getPatientInfo": lambda i: ("getPatientInfo", identity(i)),
        "checkAvailability": lambda i: ("checkAvailability", {"date": fixtures.read_day(i).isoformat()}),
        "getPatientBalance": lambda i: ("getPatientBalance", identity(i)),
        "getPatientInsurance": lambda i: ("getPatientInsurance", {**identity(i), "category": "crowns"}),
        "getPracticeInfo": lambda i: ("getPracticeInfo", {}),
        "getProviders": lambda i: ("getProviders", {}),
        "checkInsuranceAccepted": lambda i: ("checkInsuranceAccepted", {"carrier": "Delta Dental"}),
    }


async def read_tools(caller: VapiCaller, fixtures: Fixtures, label: str, samples: int) -> list[Samples]:
    records = []
    for tool, arguments in read_calls(fixtures).items():
        record = Samples(tool)
        for i in range(samples):
            await caller.call(record, arguments(i), fixtures.call_id(f"{label}-{tool.split(' ')[0]}", i))
        records.append(record)
    return records


@dataclass
class TypicalCalls:
    steps: dict[str, Samples] = field(default_factory=lambda: {step: Samples(step) for step in CALL_STEPS})
    total_wait_ms: list[float] = field(default_factory=list)  # the four steps of each call that completed them
    bookings: list[tuple[str, str]] = field(default_factory=list)  # (writeback id, the booking's outcome)


async def typical_call(caller: VapiCaller, fixtures: Fixtures, index: int, calls: TypicalCalls) -> None:
    """searchPatients by the calling number, getPatientInfo, checkAvailability, bookAppointment, hang up."""
    patient = fixtures.patient(index)
    call_id, number = fixtures.call_id("typical", index), to_e164(patient.cell)
    search, verify, availability, book = (calls.steps[step] for step in CALL_STEPS)
    found = await caller.call(search, ("searchPatients", {}), call_id, number)
    ids = [match["patientId"] for match in (found or {}).get("matches") or []]
    if patient.patient_id not in ids:
        search.errors.append(f"the caller's number did not find the patient ({len(ids)} matches)")
        return
    verified = await caller.call(verify, ("getPatientInfo", patient.identity), call_id, number)
    if verified is None:
        return
    if verified.get("outcome") != "ok":
        verify.errors.append(f"not verified: {verified.get('code')}")
        return
    day = fixtures.call_days[index % len(fixtures.call_days)]
    offered = await caller.call(availability, ("checkAvailability", {"date": day.isoformat()}), call_id, number)
    slots = (offered or {}).get("slots") or []
    if not slots:
        availability.errors.append(f"no openings offered on {day}")
        return
    wanted = {**patient.identity, "startTime": slots[0]["startTime"], "providerId": slots[0]["providerId"]}
    booked = await caller.call(book, ("bookAppointment", wanted), call_id, number)
    if booked is None:
        return
    calls.total_wait_ms.append(sum(calls.steps[step].wait_ms[-1] for step in CALL_STEPS))
    if booked.get("reference"):
        calls.bookings.append((str(booked["reference"]), str(booked.get("outcome"))))


@dataclass(frozen=True)
class Writeback:
    """A booking's writeback as `writeback_status` shows it once the calls are done."""

    writeback_id: str
    tool_outcome: str
    completed_after_seconds: float | None  # None: not completed when read


async def writeback_completions(sikka: Sikka, bookings: list[tuple[str, str]], wait_until: float) -> list[Writeback]:
    """Read each booking's writeback once every one is due (`wait_until`, monotonic): completion − request time."""
    await anyio.sleep(max(0.0, wait_until - time.monotonic()))
    found = []
    for writeback_id, outcome in bookings:
        status = await sikka.request("GET", "writeback_status", params={"id": writeback_id})
        item = status[0]["items"][0]
        after = None
        if str(item["is_completed"]).lower() == "true":
            sent = datetime.strptime(item["request_time"], STATUS_TIME)
            after = (datetime.strptime(item["completed_time"], STATUS_TIME) - sent).total_seconds()
        found.append(Writeback(writeback_id, outcome, after))
    return found


@dataclass
class Realistic:
    constant: list[Samples]
    lognormal: list[Samples]
    calls: TypicalCalls
    writebacks: list[Writeback]
    seconds: float


async def measure(stack: Stack, admin: Admin, sikka: Sikka, fixtures: Fixtures, reads: int, calls: int) -> Realistic:
    """The typical calls first (their writebacks complete while the read tools are measured), then each read
    tool with the lognormal latency, then at a constant 250 ms (`reads // 2` samples)."""
    started = time.perf_counter()
    caller = VapiCaller(stack, admin)
    low, high = WRITEBACK_SECONDS
    await admin.configure(
        latency_seconds=MEDIAN_MS / 1000,
        latency_p99_seconds=P99_MS / 1000,
        writeback_delay_seconds=low,
        writeback_delay_max_seconds=high,
    )
    typical = TypicalCalls()
    for index in range(calls):
        await typical_call(caller, fixtures, index, typical)
    all_due = time.monotonic() + high + 1
    lognormal = await read_tools(caller, fixtures, "lognormal", reads)
    await admin.configure(latency_seconds=MEDIAN_MS / 1000, latency_p99_seconds=0)
    constant = await read_tools(caller, fixtures, "constant", max(1, reads // 2))
    writebacks = await writeback_completions(sikka, typical.bookings, all_due)
    return Realistic(constant, lognormal, typical, writebacks, time.perf_counter() - started)
