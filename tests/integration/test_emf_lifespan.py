"""The app prints EMF lines on stdout only when METRICS_EMF_INTERVAL_SECONDS is set (the emitter runs in the
lifespan and emits once more at shutdown)."""

from __future__ import annotations

import json

import anyio
import pytest

from app.main import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
# Time for the writeback follower's first database round, so shutdown does not cancel it mid-query.
FOLLOWER_ROUND = 0.3


async def test_the_lifespan_runs_the_emitter_when_an_interval_is_set(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, metrics_emf_interval_seconds=60))
    async with app.router.lifespan_context(app):
        app.state.metrics.tool_calls.labels("bookAppointment", "audit_failed").inc()
        await anyio.sleep(FOLLOWER_ROUND)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (document,) = [json.loads(line) for line in lines]
    assert document["AuditWriteFailures"] == 1
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Parlae/PMS"


async def test_no_emf_line_by_default(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        app.state.metrics.tool_calls.labels("bookAppointment", "audit_failed").inc()
        await anyio.sleep(FOLLOWER_ROUND)
    assert '"_aws"' not in capsys.readouterr().out
