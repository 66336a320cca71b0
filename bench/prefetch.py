"""The prefetch profile: what a caller waits for once the call's start has been prefetched (server/prefetch.py),
at a constant 250 ms per Sikka request.

Each sample is a new call, over `POST /vapi/tool-calls` as Vapi posts it: the `status-update` (in-progress)
with the calling number; then, once the server's `/metrics` counts the call's prefetch done (stored, or skipped
over the practice's budget: the server runs with Sikka's whole allowance, `PREFETCH_REQUESTS_PER_MINUTE=200`; how
long it took is reported, the time a call's greeting has to cover), searchPatients by the calling number,
checkAvailability for the first day from tomorrow on that has openings, getPatientInfo (the identity check);
then the end-of-call report. Each tool's Sikka requests and round trips come from the sandbox's timeline, as in
the realistic profile.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import anyio
from prometheus_client.parser import text_string_to_metric_families

from bench.measure import elapsed_ms
from bench.paths import BareHttp, PathError
from bench.processes import Stack
from bench.realistic import MEDIAN_MS, Samples, VapiCaller
from bench.scenarios import Fixtures
from bench.upstream import Admin
from server.phones import to_e164

STEPS = ("searchPatients (caller number)", "checkAvailability (tomorrow)", "getPatientInfo")
READY_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.02
DAYS_SEARCHED = 3  # the first open day from tomorrow on: within the prefetched days (PREFETCH_DAYS, 3)


@dataclass
class PrefetchRun:
    steps: dict[str, Samples] = field(default_factory=lambda: {step: Samples(step) for step in STEPS})
    status_update_ms: list[float] = field(default_factory=list)  # Vapi's wait for the answer to the call's start
    ready_ms: list[float] = field(default_factory=list)  # from the call's start until its prefetch was stored
    outcomes: Counter[str] = field(default_factory=Counter)  # parlae_prefetches_total's result, or "not_done"
    day: str = ""
    seconds: float = 0.0


async def prefetch_outcomes(http: BareHttp) -> Counter[str]:
    """`parlae_prefetches_total` by result, on the server's /metrics."""
    async with http.connect() as connection:
        response = await connection.request("GET", f"{http.server_url}/metrics")
    found: Counter[str] = Counter()
    for family in text_string_to_metric_families(response.content.decode()):
        if family.name == "parlae_prefetches":
            found.update({s.labels["result"]: int(s.value) for s in family.samples if s.name.endswith("_total")})
    return found


async def lifecycle(http: BareHttp, kind: str, call_id: str, number: str, status: str = "") -> float:
    """Post a status-update or the end-of-call report of the call; how long the answer took (ms)."""
    message: dict[str, Any] = {"type": kind, "call": {"id": call_id, "customer": {"number": number}}}
    if status:
        message["status"] = status
    started = time.perf_counter()
    async with http.connect() as connection:
        answered, _ = await http.post(connection, "/vapi/tool-calls", {"message": message})
    if answered != 200:
        raise PathError(f"{kind} answered {answered}")
    return elapsed_ms(started)


async def wait_until_done(http: BareHttp, before: Counter[str], started: float) -> tuple[str, float]:
    """The next prefetch's outcome ("not_done" after READY_TIMEOUT_SECONDS) and the ms from `started` until it."""
    deadline = time.perf_counter() + READY_TIMEOUT_SECONDS
    while time.perf_counter() < deadline:
        new = await prefetch_outcomes(http) - before
        if new:
            return next(iter(new)), elapsed_ms(started)
        await anyio.sleep(POLL_SECONDS)
    return "not_done", elapsed_ms(started)


async def open_day_from_tomorrow(caller: VapiCaller, fixtures: Fixtures) -> date:
    """The first day from tomorrow on with openings (found unmeasured, on a call of its own)."""
    unmeasured = Samples("setup")
    for offset in range(1, DAYS_SEARCHED + 1):
        day = date.today() + timedelta(days=offset)
        answer = await caller.call(unmeasured, ("checkAvailability", {"date": day.isoformat()}), "bench-setup")
        if (answer or {}).get("slots"):
            return day
    raise RuntimeError(f"no openings in the {DAYS_SEARCHED} days from tomorrow on")


async def measure(stack: Stack, admin: Admin, fixtures: Fixtures, samples: int) -> PrefetchRun:
    started = time.perf_counter()
    await admin.configure(latency_seconds=MEDIAN_MS / 1000, latency_p99_seconds=0)
    caller = VapiCaller(stack, admin)
    http = caller.http
    run = PrefetchRun()
    day = await open_day_from_tomorrow(caller, fixtures)
    run.day = day.isoformat()
    search, availability, verify = (run.steps[step] for step in STEPS)
    for index in range(samples):
        patient = fixtures.patient(index)
        call_id, number = fixtures.call_id("prefetch", index), to_e164(patient.cell) or ""
        before = await prefetch_outcomes(http)
        begun = time.perf_counter()
        run.status_update_ms.append(await lifecycle(http, "status-update", call_id, number, "in-progress"))
        outcome, after = await wait_until_done(http, before, begun)
        run.outcomes[outcome] += 1
        if outcome == "stored":
            run.ready_ms.append(after)
        await caller.call(search, ("searchPatients", {}), call_id, number)
        await caller.call(availability, ("checkAvailability", {"date": day.isoformat()}), call_id, number)
        await caller.call(verify, ("getPatientInfo", patient.identity), call_id, number)
        await lifecycle(http, "end-of-call-report", call_id, number)
    run.seconds = time.perf_counter() - started
    return run
