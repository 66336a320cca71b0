"""`python -m bench` (`make bench`): each tool's overhead over the Sikka requests it must make, and throughput,
against the sandbox with a fixed upstream latency; prints the table and writes `bench/results/latest.json`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench import paths, report, scenarios
from bench.client import ToolClient, fresh_client_call, tool_client
from bench.measure import Meter, ToolRecord, throughput, timed_block
from bench.processes import Stack, running_stack
from bench.upstream import Admin, Sikka
from server.phones import to_e164

WARM_UP_CALLS = 5
CONCURRENCY = (1, 10, 50)
BASELINE_SAMPLES = 100
FRESH_CLIENT_SAMPLES = 40
SANDBOX_RATE_LIMIT = 1_000_000  # per minute: measure the server, not the sandbox's Sikka rate limit

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox latency per request")
    parser.add_argument("--writeback-delay", type=float, default=0.2, help="sandbox writeback delay, seconds")
    parser.add_argument("--reads", type=int, default=200, help="matched samples per read tool")
    parser.add_argument("--writes", type=int, default=12, help="matched samples per write tool")
    parser.add_argument("--seconds", type=float, default=7.0, help="duration of each throughput run")
    parser.add_argument("--database-url", help="an empty database for the server (default: SQLite, temporary)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (more than one needs PostgreSQL)")
    parser.add_argument("--output", type=Path, default=report.RESULTS)
    return parser.parse_args()


async def cold_call(meter: Meter, fixtures: scenarios.Fixtures) -> ToolRecord:
    """The server's first tool call: token lookup, credentials, and the practice metadata load."""
    cold = ToolRecord("checkAvailability (cold)")
    call = ("checkAvailability", {"date": (date.today() + scenarios.READ_DAYS_AHEAD).isoformat()})
    await meter.tool(cold, call, fixtures.call_id("cold", 0))
    progress(f"cold checkAvailability: {sum(cold.upstream.values())} upstream requests")
    return cold


async def warm_up(tools: ToolClient, fixtures: scenarios.Fixtures, write_samples: int) -> None:
    await fixtures.find_open_days(tools, write_samples)
    mix = scenarios.mix_call(fixtures, "warm")
    for n in range(WARM_UP_CALLS * 3):
        call, call_id = mix(n)
        await tools.call(*call, call_id)
    patient = fixtures.patient(0)
    for n, call in enumerate(  # the carriers and coverage tables are loaded on first use
        [
            ("checkInsuranceAccepted", {"carrier": "Delta"}),
            ("getPatientInsurance", {**patient.identity, "category": "crowns"}),
        ]
    ):
        await tools.call(*call, fixtures.call_id("warm-money", n))


async def tool_records(meter: Meter, fixtures: scenarios.Fixtures, options: argparse.Namespace) -> list[ToolRecord]:
    records: list[ToolRecord] = []
    for label, scenario, samples in (
        ("searchPatients (phone)", scenarios.search_by_phone, options.reads),
        ("searchPatients (name)", scenarios.search_by_name, options.reads // 2),
        ("getPatientInfo", scenarios.get_patient_info, options.reads),
        ("checkAvailability", scenarios.check_availability, options.reads),
        ("updatePatient", scenarios.update_patient, options.reads // 4),
        ("getPatientBalance", scenarios.get_patient_balance, options.reads // 2),
        ("getPatientInsurance", scenarios.get_patient_insurance, options.reads // 2),
    ):
        progress(f"{label}: {samples} matched samples")
        records.append(await scenario(meter, fixtures, samples))
    progress(f"getPracticeInfo, getProviders, checkInsuranceAccepted: {options.reads // 2} matched samples each")
    records.extend(await scenarios.practice_questions(meter, fixtures, options.reads // 2))
    progress(f"writes: {options.writes} phone calls of book, reschedule, cancel, createPatient")
    return records + (await scenarios.writes(meter, fixtures, options.writes)).all()


async def baselines(http: httpx.AsyncClient, stack: Stack, fixtures: scenarios.Fixtures) -> dict[str, Any]:
    """The HTTP stack alone (`GET /healthz`), and a call made the way a new SDK client makes it."""
    progress("baselines: GET /healthz, a new SDK client per call")
    healthz = await timed_block(BASELINE_SAMPLES, lambda _: http.get(f"{stack.server_url}/healthz"))
    search = ("searchPatients", {"phone": fixtures.patient(0).spoken_phone})
    fresh = await timed_block(FRESH_CLIENT_SAMPLES, lambda _: fresh_client_call(stack.mcp_url, stack.token, *search))
    return {"healthz_ms": report.latency(healthz), "fresh_client_ms": report.latency(fresh)}


async def measure(stack: Stack, options: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        admin = Admin(http, stack.sandbox_url)
        await admin.configure(rate_limit_per_minute=SANDBOX_RATE_LIMIT)
        sikka = await Sikka.connect(http, stack.sikka_url)
        fixtures = await scenarios.Fixtures.load(admin, sikka)
        async with tool_client(stack.mcp_url, stack.token) as tools:
            meter = Meter(stack, tools, sikka, admin, split=options.workers == 1)
            cold = await cold_call(meter, fixtures)
            await warm_up(tools, fixtures, options.writes)
            records = await tool_records(meter, fixtures, options)
            progress(f"paths: searchPatients over tool-calls, MCP as Vapi, MCP kept: {options.reads} samples each")
            phones = [(patient.spoken_phone, to_e164(patient.cell) or "") for patient in fixtures.patients]
            compared = await paths.compare(
                stack, sikka, scenarios.phone_lookup, phones, fixtures.call_id, options.reads
            )
        base = await baselines(http, stack, fixtures)
    runs = []
    for concurrency in CONCURRENCY:
        progress(f"throughput: {concurrency} clients for {options.seconds:g} s")
        mix = scenarios.mix_call(fixtures, f"t{concurrency}")
        runs.append(await throughput(stack, mix, concurrency, options.seconds))
    return {
        "setup": {
            "latency_ms": options.latency_ms,
            "writeback_delay_seconds": options.writeback_delay,
            "throughput_seconds": options.seconds,
            "mix": ["searchPatients", "checkAvailability", "getPatientInfo"],
            "client": "official MCP SDK Client (mode 2026-07-28), tool listing fetched once: one POST /mcp per call",
            "database": options.database_url.split("://")[0] if options.database_url else "sqlite+aiosqlite",
            "server_workers": options.workers,
            "audit": "on: every call appends to the hash chain before it answers",
        },
        "tools": {record.label: report.tool_figures(record) for record in records},
        "paths": report.path_figures(compared),
        "baselines": {
            **base,
            "cold_check_availability": {
                "ms": round(cold.tool_ms[0], 1) if cold.tool_ms else None,
                "upstream": sum(cold.upstream.values()),
                "upstream_by_endpoint": dict(cold.upstream),
            },
        },
        "throughput": [report.throughput_figures(run) for run in runs],
    }


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so the child processes and the temporary directory are cleaned up."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def main() -> None:
    options = parse_options()
    stop_on_sigterm()
    machine = report.machine()
    with tempfile.TemporaryDirectory(prefix="parlae-bench-") as workdir:
        progress(f"starting the sandbox ({options.latency_ms:g} ms per request) and the server")
        stack_options = (options.latency_ms, options.writeback_delay, options.database_url, options.workers)
        with running_stack(Path(workdir), *stack_options) as stack:
            results = asyncio.run(measure(stack, options))
            results["peak_rss_mb"] = {"server": stack.server.peak_rss_mb(), "sandbox": stack.sandbox.peak_rss_mb()}
    results = {"machine": machine, **results, "run_seconds": round(time.perf_counter() - STARTED, 1)}
    results["goals"] = report.goals(results)
    report.write(results, options.output)
    print(report.render(results), flush=True)
    progress(f"wrote {options.output}")


if __name__ == "__main__":
    main()
