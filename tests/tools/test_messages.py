"""takeMessage (tools/messages.py): its answer and what is stored — once per call, the callback number in E.164
(by default the calling number), linked only to a verified patient — and that it makes no Sikka request, cold
or warm. Delivery to a practice's notify URL is tested over HTTP in tests/e2e/test_messages.py.

The sandbox is created as if ten days ago (its clock runs ten days behind, from noon practice time), as for the
practice tools (tests/tools/test_practice.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tests.support import call, identity
from tests.tools.conftest import Desk, desk_behind, requests_since

pytestmark = pytest.mark.anyio
MESSAGE = {"callerName": "Jo Caller", "callbackNumber": "(212) 555-0142", "reason": "Question about a bill"}


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    async with desk_behind(tmp_path_factory.mktemp("messages") / "parlae.db") as opened:
        yield opened


def a_patient(desk: Desk) -> dict[str, str]:
    """The first active patient (the only one this module's tests verify)."""
    return next(p for p in desk.practice.patients.values() if p["status"] == "Active")


async def test_a_message_is_stored_once_per_call_and_linked_only_to_a_verified_patient(desk: Desk) -> None:
    first = await desk.call("takeMessage", {**MESSAGE, "urgency": "urgent"}, "message-call")
    again = await desk.call("takeMessage", {**MESSAGE, "urgency": "urgent"}, "message-call")
    assert (first["outcome"], first["code"], first["urgency"]) == ("confirmed", "message_taken", "urgent"), first
    assert again["messageId"] == first["messageId"]  # a retry on the same call stores nothing new
    patient = a_patient(desk)
    linked = await desk.call("takeMessage", {**MESSAGE, "patient": identity(patient)}, "message-linked")
    refused = await desk.call(
        "takeMessage", {**MESSAGE, "patient": identity(patient, dateOfBirth="1901-01-01")}, "message-refused"
    )
    assert refused["code"] == "identity_mismatch"
    assert refused.get("messageId") is None
    stored = {m.id: m for m in await desk.services.inbox.open_items(desk.account_id)}
    assert stored[first["messageId"]].note.callback_number == "+12125550142"
    assert stored[first["messageId"]].note.patient_id is None
    assert stored[linked["messageId"]].note.patient_id == patient["patient_id"]
    assert stored[first["messageId"]].deliveries == []  # no channel configured for this practice
    assert len([m for m in stored.values() if m.vapi_call_id in ("message-call", "message-refused")]) == 1


async def test_the_callback_number_defaults_to_the_calling_number(desk: Desk) -> None:
    message = {"callerName": "Sam Caller", "reason": "Please call back"}
    # the calling number as the adapters hand it to the tools: E.164 (tests/e2e/test_http.py sends it as
    # an X-Caller-Number header)
    async with desk.client("message-caller", caller_number="+19175550177") as client:
        taken = await call(client, "takeMessage", message)
    assert (taken["outcome"], taken["code"]) == ("confirmed", "message_taken"), taken
    assert taken["message"].endswith("they will call you back at the number ending in 0177.")
    unknown = await desk.call("takeMessage", message, "message-no-number")
    assert (unknown["isError"], unknown["code"]) == (True, "callback_number_needed")
    stored = {m.id: m for m in await desk.services.inbox.open_items(desk.account_id)}
    assert stored[taken["messageId"]].note.callback_number == "+19175550177"
    assert not any(m.vapi_call_id == "message-no-number" for m in stored.values())


async def test_a_callback_number_without_an_area_code_is_refused_and_nothing_stored(desk: Desk) -> None:
    answer = await desk.call("takeMessage", {**MESSAGE, "callbackNumber": "555-0101"}, "message-seven-digits")
    assert (answer["isError"], answer["outcome"]) == (True, "invalid"), answer
    assert "phone must be a phone number" in answer["message"]
    stored = await desk.services.inbox.open_items(desk.account_id)
    assert not any(m.vapi_call_id == "message-seven-digits" for m in stored)
    assert all(m.note.callback_number != "+15550101" for m in stored)


async def test_a_message_makes_no_sikka_requests_cold_or_warm(fresh: Desk) -> None:
    counts: dict[str, dict[str, int]] = {}
    async with fresh.client("counts") as client:
        for label in ("cold", "warm"):
            before = Counter(fresh.sandbox.counters)
            taken = await call(
                client, "takeMessage", {"callerName": "Jo", "callbackNumber": "212-555-0100", "reason": label}
            )
            assert not taken["isError"], taken
            counts[label] = requests_since(fresh.sandbox, before)
    assert counts == {"cold": {}, "warm": {}}
