"""`python -m bench` (`make bench`): three profiles against the sandbox, on one server. The default profile: each
tool's overhead over the Sikka requests it must make, the paths Vapi can take, and throughput, with a fixed
upstream latency (20 ms). The realistic profile (bench/realistic.py): what a caller waits for, and the sequential
Sikka round trips, when Sikka's latency is a distribution. The prefetch profile (bench/prefetch.py): the read
tools' waits once the call's start was prefetched, at 250 ms per Sikka request. Prints the tables and writes
`bench/results/latest.json`."""

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

from bench import paths, prefetch, realistic, report, scenarios
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

PROFILES = ("all", "default", "realistic", "prefetch")

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--profile", choices=PROFILES, default="all", help="the default profile, the realistic one, prefetch, or all"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="sandbox latency per request (default)")
    parser.add_argument("--writeback-delay", type=float, default=0.2, help="sandbox writeback delay, s (default)")
    parser.add_argument("--reads", type=int, default=200, help="matched samples per read tool (default)")
    parser.add_argument("--writes", type=int, default=12, help="matched samples per write tool (default)")
    parser.add_argument("--seconds", type=float, default=7.0, help="duration of each throughput run (default)")
    parser.add_argument(
        "--realistic-reads",
        type=int,
        default=16,
        help="samples per read tool with lognormal latency (realistic; half as many at a constant 250 ms)",
    )
    parser.add_argument("--calls", type=int, default=6, help="typical phone calls (realistic)")
    parser.add_argument("--prefetched-calls", type=int, default=12, help="calls started with a prefetch (prefetch)")
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


async def warm_up(tools: ToolClient, fixtures: scenarios.Fixtures, write_samples: int, calls: int) -> None:
    await fixtures.find_open_days(tools, write_samples, calls)
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


def runs(options: argparse.Namespace, profile: str) -> bool:
    return options.profile in ("all", profile)


async def measure(stack: Stack, options: argparse.Namespace) -> dict[str, Any]:
    default, measured = runs(options, "default"), runs(options, "realistic")
    async with httpx.AsyncClient(timeout=30) as http:
        admin = Admin(http, stack.sandbox_url)
        await admin.configure(rate_limit_per_minute=SANDBOX_RATE_LIMIT)
        sikka = await Sikka.connect(http, stack.sikka_url)
        fixtures = await scenarios.Fixtures.load(admin, sikka)
        async with tool_client(stack.mcp_url, stack.token) as tools:
            meter = Meter(stack, tools, sikka, admin, split=options.workers == 1)
            cold = await cold_call(meter, fixtures)
            await warm_up(tools, fixtures, options.writes if default else 0, options.calls if measured else 0)
            results = await default_profile(stack, http, meter, fixtures, options, cold) if default else {}
        if measured:
            progress(
                f"realistic: {options.calls} phone calls, then {options.realistic_reads} samples per read tool with "
                f"lognormal latency and {options.realistic_reads // 2} at a constant 250 ms"
            )
            run = await realistic.measure(stack, admin, sikka, fixtures, options.realistic_reads, options.calls)
            results["realistic"] = report.realistic_figures(run)
        if runs(options, "prefetch"):
            progress(f"prefetch: {options.prefetched_calls} calls, each prefetched at its start, at a constant 250 ms")
            prefetched = await prefetch.measure(stack, admin, fixtures, options.prefetched_calls)
            results["prefetch"] = report.prefetch_figures(prefetched)
    return {"setup": setup(options), **results}


async def default_profile(
    stack: Stack,
    http: httpx.AsyncClient,
    meter: Meter,
    fixtures: scenarios.Fixtures,
    options: argparse.Namespace,
    cold: ToolRecord,
) -> dict[str, Any]:
    """Overhead per tool, the paths, the baselines and throughput, at the sandbox's fixed latency."""
    records = await tool_records(meter, fixtures, options)
    progress(f"paths: searchPatients over tool-calls, MCP as Vapi, MCP kept: {options.reads} samples each")
    phones = [(patient.spoken_phone, to_e164(patient.cell) or "") for patient in fixtures.patients]
    compared = await paths.compare(stack, meter.sikka, scenarios.phone_lookup, phones, fixtures.call_id, options.reads)
    base = await baselines(http, stack, fixtures)
    throughput_runs = []
    for concurrency in CONCURRENCY:
        progress(f"throughput: {concurrency} clients for {options.seconds:g} s")
        mix = scenarios.mix_call(fixtures, f"t{concurrency}")
        throughput_runs.append(await throughput(stack, mix, concurrency, options.seconds))
    return {
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
        "throughput": [report.throughput_figures(run) for run in throughput_runs],
    }


def setup(options: argparse.Namespace) -> dict[str, Any]:
    return {
        "profile": options.profile,
        "latency_ms": options.latency_ms,
        "writeback_delay_seconds": options.writeback_delay,
        "throughput_seconds": options.seconds,
        "mix": ["searchPatients", "checkAvailability", "getPatientInfo"],
        "client": "official MCP SDK Client (mode 2026-07-28), tool listing fetched once: one POST /mcp per call",
        "database": options.database_url.split("://")[0] if options.database_url else "sqlite+aiosqlite",
        "server_workers": options.workers,
        "audit": "on: every call appends to the hash chain before it answers",
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
