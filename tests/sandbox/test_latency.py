"""Latency and writeback delays as seeded distributions, and the timeline of requests served."""

from __future__ import annotations

import random
from statistics import quantiles

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxConfig, SandboxState, create_sandbox_app
from sandbox import __main__ as sandbox_main
from sandbox.latency import Served, request_latency, sequential_round_trips, writeback_delay
from tests.sandbox.support import FakeClock, key_headers
from tests.sandbox.test_writebacks import booking, submit


def test_latency_is_constant_without_a_p99_above_the_median() -> None:
    rng = random.Random(1)
    assert [request_latency(0.25, p99, rng) for p99 in (0.0, 0.1, 0.25)] == [0.25, 0.25, 0.25]
    assert request_latency(0.0, 1.5, rng) == 0.0


def test_latency_is_lognormal_with_the_given_median_and_p99() -> None:
    rng = random.Random(7)
    draws = [request_latency(0.25, 1.5, rng) for _ in range(40_000)]
    cuts = quantiles(draws, n=100)
    assert cuts[49] == pytest.approx(0.25, rel=0.03)
    assert cuts[98] == pytest.approx(1.5, rel=0.1)
    assert min(draws) > 0


def test_draws_repeat_with_the_seed() -> None:
    first, second = random.Random(3), random.Random(3)
    assert [request_latency(0.25, 1.5, first) for _ in range(5)] == [
        request_latency(0.25, 1.5, second) for _ in range(5)
    ]


def test_writeback_delay_is_uniform_in_its_range_or_constant() -> None:
    rng = random.Random(5)
    draws = [writeback_delay(10, 30, rng) for _ in range(2000)]
    assert 10 <= min(draws) < 11
    assert 29 < max(draws) <= 30
    assert writeback_delay(10, 0, rng) == 10
    assert writeback_delay(10, 10, rng) == 10


async def submitted_delays(config: SandboxConfig, clock: FakeClock) -> list[float]:
    """Submit three bookings; each writeback's delay until it is due."""
    state = SandboxState(config)
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = await key_headers(client)
        for minute in (0, 30, 45):
            await submit(client, headers, "POST", "/v4/appointment", booking(time=f"07:{minute:02d}"))
    return [(writeback.due - clock()).total_seconds() for writeback in state.writebacks_of(DEMO_OFFICE_ID)]


@pytest.mark.anyio
async def test_writebacks_are_due_after_a_seeded_draw_in_the_range(clock: FakeClock) -> None:
    config = SandboxConfig(clock=clock, writeback_delay_seconds=10, writeback_delay_max_seconds=30)
    delays = await submitted_delays(config, clock)
    assert all(10 <= delay <= 30 for delay in delays)
    assert len(set(delays)) == 3
    assert (
        await submitted_delays(
            SandboxConfig(clock=clock, writeback_delay_seconds=10, writeback_delay_max_seconds=30), clock
        )
        == delays
    )


@pytest.mark.anyio
async def test_a_practice_or_fault_delay_overrides_the_range(clock: FakeClock) -> None:
    state = SandboxState(SandboxConfig(clock=clock, writeback_delay_seconds=10, writeback_delay_max_seconds=30))
    state.practice(DEMO_OFFICE_ID).writeback_delay_seconds = 2
    state.faults.add("appointment", writeback_delay_seconds=5, count=1)
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = await key_headers(client)
        for minute in (0, 30):
            await submit(client, headers, "POST", "/v4/appointment", booking(time=f"07:{minute:02d}"))
    delays = [(writeback.due - clock()).total_seconds() for writeback in state.writebacks_of(DEMO_OFFICE_ID)]
    assert delays == [5, 2]


@pytest.mark.anyio
async def test_each_request_sleeps_its_own_seeded_draw(clock: FakeClock) -> None:
    config = SandboxConfig(clock=clock, latency_seconds=0.01, latency_p99_seconds=0.05)
    state = SandboxState(config)
    expected = SandboxState(SandboxConfig(clock=clock, latency_seconds=0.01, latency_p99_seconds=0.05))
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        headers = await key_headers(client)
        for _ in range(4):
            assert (await client.get("/v4/providers", headers=headers)).status_code == 200
    served = state.timeline.after(0)
    draws = [expected.request_latency() for _ in served]
    assert len(set(draws)) == len(served) == 5
    assert all(s.finished - s.started >= draw for s, draw in zip(served, draws, strict=True))


@pytest.mark.anyio
async def test_the_timeline_lists_requests_in_the_order_answered(
    state: SandboxState, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    so_far = (await client.get("/_admin/requests")).json()
    assert [s["request"] for s in so_far["requests"]] == ["POST /request_key"]  # the `headers` fixture's
    mark = so_far["last_seq"]
    await client.get("/v4/providers", headers=headers)
    await client.get("/v4/patients", headers=headers, params={"patient_id": "10002"})
    page = (await client.get("/_admin/requests", params={"after": mark})).json()
    served = page["requests"]
    assert [(s["seq"], s["request"]) for s in served] == [(mark + 1, "GET /providers"), (mark + 2, "GET /patients")]
    assert page["last_seq"] == mark + 2
    assert served[1]["query"] == "patient_id=10002"
    assert all(s["started"] <= s["finished"] for s in served)
    assert served[0]["finished"] <= served[1]["started"]
    assert (await client.get("/_admin/requests", params={"after": mark + 2})).json()["requests"] == []
    assert (await client.get("/_admin/requests", params={"after": "x"})).status_code == 422


@pytest.mark.anyio
async def test_setting_a_latency_restarts_the_seeded_draws(state: SandboxState, client: httpx.AsyncClient) -> None:
    settings = {"latency_seconds": 0.25, "latency_p99_seconds": 1.5}
    await client.post("/_admin/config", json=settings)
    first = [state.request_latency() for _ in range(3)]
    await client.post("/_admin/config", json={"rate_limit_per_minute": 50})  # not a timing setting
    assert state.request_latency() not in first
    await client.post("/_admin/config", json=settings)
    assert [state.request_latency() for _ in range(3)] == first


REALISTIC_OPTIONS = ["--latency-ms", "250", "--latency-p99-ms", "1500", "--writeback-delay", "10"]
REALISTIC_OPTIONS += ["--writeback-delay-max", "30"]


def test_command_line_options(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[SandboxState] = []
    monkeypatch.setattr("sandbox.__main__.uvicorn.run", lambda app, **_: served.append(app.state.sandbox))
    sandbox_main.main(REALISTIC_OPTIONS)
    config = served[0].config
    assert (config.latency_seconds, config.latency_p99_seconds) == (0.25, 1.5)
    assert (config.writeback_delay_seconds, config.writeback_delay_max_seconds) == (10, 30)


def test_sequential_round_trips_count_the_critical_path() -> None:
    def served(*spans: tuple[float, float]) -> list[Served]:
        return [Served(n, "GET /patients", "", start, end) for n, (start, end) in enumerate(spans)]

    assert sequential_round_trips([]) == 0
    assert sequential_round_trips(served((0, 1), (0.01, 1.2), (0.02, 0.5))) == 1  # sent at once
    assert sequential_round_trips(served((0, 1), (1.01, 2), (1.02, 2.5))) == 2  # one, then two at once
    assert sequential_round_trips(served((0, 3), (0.1, 1), (1.1, 2), (2.1, 2.9))) == 3  # a chain beside a long one


def test_the_cli_sandbox_command_takes_the_same_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.cli import main as cli

    served: list[SandboxState] = []
    monkeypatch.setattr("app.cli.serve.uvicorn.run", lambda app, **_: served.append(app.state.sandbox))
    monkeypatch.setattr("app.cli.serve.configure_logging", lambda level: None)
    options = [
        "--latency-ms",
        "250",
        "--latency-p99-ms",
        "1500",
        "--writeback-delay",
        "10",
        "--writeback-delay-max",
        "30",
    ]
    result = CliRunner().invoke(cli, ["sandbox", *options])
    assert result.exit_code == 0, result.output
    config = served[0].config
    assert (config.latency_seconds, config.latency_p99_seconds) == (0.25, 1.5)
    assert (config.writeback_delay_seconds, config.writeback_delay_max_seconds) == (10, 30)
