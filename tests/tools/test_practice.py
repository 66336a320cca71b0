"""The practice tools (tools/practice.py): getPracticeInfo with this week's hours, holiday and closed days, and
its audit row; getProviders; checkInsuranceAccepted by partial name; and the Sikka requests they make cold and
warm.

The sandbox is created as if ten days ago (its clock runs ten days behind, from noon practice time), so its
one holiday — the first Thursday at least ten days after creation — falls within the coming week."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sandbox import SandboxConfig, open_hours
from sandbox.billing import CARRIERS
from sandbox.data import HOLIDAY_NAME, holiday_for
from server.db.models import AuditLog
from server.phones import pms_format, to_e164
from tests.tools.conftest import (
    FRONT_DESK_DAYS_BEHIND,
    Desk,
    cold_and_warm,
    open_desk,
    sandbox_days_behind,
)
from tools.speech import spoken_day

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ten_days_behind() -> tuple[SandboxConfig, date]:
    """The module desk's sandbox config (clock ten days behind) and the day it counts as created."""
    return sandbox_days_behind(FRONT_DESK_DAYS_BEHIND)


@pytest.fixture(scope="module")
async def desk(
    tmp_path_factory: pytest.TempPathFactory, ten_days_behind: tuple[SandboxConfig, date]
) -> AsyncIterator[Desk]:
    database = tmp_path_factory.mktemp("practice") / "parlae.db"
    async with open_desk(f"sqlite+aiosqlite:///{database}", sandbox=ten_days_behind[0]) as opened:
        yield opened


async def audit_rows(desk: Desk, action: str) -> list[AuditLog]:
    async with desk.services.sessions() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def test_practice_info_has_this_weeks_hours_with_the_holiday_and_closed_days(
    desk: Desk, ten_days_behind: tuple[SandboxConfig, date]
) -> None:
    info = await desk.call("getPracticeInfo", {}, "practice-info")
    practice, holiday = desk.practice, holiday_for(ten_days_behind[1])
    assert info["outcome"] == "ok", info
    assert (info["name"], info["website"], info["timeZone"]) == (practice.name, practice.website, "America/New_York")
    assert info["phone"] == pms_format(to_e164(practice.phone) or "")
    assert info["address"].startswith(practice.address)
    assert info["message"].startswith(f"The office is {'open' if info['openNow'] else 'closed'} now")
    assert f"the office is closed on {spoken_day(holiday)}." in info["message"]
    assert HOLIDAY_NAME not in info["message"]  # the PMS's text: in the structured hours only
    days = [date.fromisoformat(h["day"]) for h in info["hours"]]
    assert days == [days[0] + timedelta(days=n) for n in range(7)]
    assert holiday in days
    for hours in info["hours"]:
        day = date.fromisoformat(hours["day"])
        spans = [(s["opens"], s["closes"]) for s in hours["hours"]]
        expected = [
            (f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}")
            for a, b in open_hours(practice.schedule, day)
        ]
        assert spans == expected, day
        assert hours["open"] == bool(spans)
    by_day = {date.fromisoformat(h["day"]): h for h in info["hours"]}
    assert (by_day[holiday]["holiday"], by_day[holiday]["said"]) == (HOLIDAY_NAME, f"closed for {HOLIDAY_NAME}")
    sunday = next(h for d, h in by_day.items() if d.weekday() == 6)
    assert (sunday["open"], sunday["holiday"], sunday["said"]) == (False, None, "closed")
    (row,) = [row for row in await audit_rows(desk, "getPracticeInfo") if row.vapi_call_id == "practice-info"]
    assert (row.phi_accessed, row.patient_ref, row.outcome) == (False, None, "success")


async def test_providers_are_the_bookable_ones_with_roles(desk: Desk) -> None:
    found = await desk.call("getProviders", {}, "providers")
    assert found["outcome"] == "ok", found
    assert [(p["providerId"], p["role"]) for p in found["providers"]] == [
        ("DDS1", "dentist"),
        ("DDS2", "dentist"),
        ("HYG1", "hygienist"),
    ]  # not the inactive dentist (DDS0), not front-desk staff (STF1)
    assert found["message"] == "The office has 2 dentists and 1 hygienist."
    assert [p["name"] for p in found["providers"]] == ["Sarah Chen", "Michael Patel", "Maria Lopez"]


async def test_a_carrier_is_matched_by_a_partial_name_and_others_are_not(desk: Desk) -> None:
    offered = [c["insurance_company_name"] for c in desk.practice.insurance_companies]
    first = offered[0]
    partial = await desk.call("checkInsuranceAccepted", {"carrier": first.split()[0].lower()}, "carriers")
    assert (partial["outcome"], partial["accepted"]) == ("ok", True), partial
    assert first in partial["matches"]
    assert "covers" in partial["message"]  # never a promise of coverage
    missing = next(c.name for c in CARRIERS if c.name not in offered)
    unknown = await desk.call("checkInsuranceAccepted", {"carrier": missing}, "carriers")
    assert (unknown["outcome"], unknown["code"], unknown["accepted"]) == ("not_found", "carrier_not_listed", False)
    vague = await desk.call("checkInsuranceAccepted", {"carrier": "dental insurance"}, "carriers")
    assert (vague["isError"], vague["code"]) == (True, "carrier_name_needed")


async def test_warm_calls_make_the_fewest_sikka_requests(fresh: Desk) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("getPracticeInfo", {}),
        ("getProviders", {}),
        ("checkInsuranceAccepted", {"carrier": "Delta"}),
    ]
    cold, warm = await cold_and_warm(fresh, calls)
    metadata = {"GET /practices", "GET /providers", "GET /practice_schedule", "GET /operatories"}
    assert metadata <= set(cold["getPracticeInfo"])  # the first call loads the practice metadata ...
    assert "GET /insurance_companies" not in cold["getPracticeInfo"]  # ... but never the insurance tables
    assert cold["getProviders"] == {}  # the same metadata
    assert cold["checkInsuranceAccepted"] == {"GET /insurance_companies": 1}
    assert warm == {"getPracticeInfo": {}, "getProviders": {}, "checkInsuranceAccepted": {}}
