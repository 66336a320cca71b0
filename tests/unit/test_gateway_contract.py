"""The gateway against respx-mocked Sikka, holding each rule of Sikka's published contract (reference §2–§20):
operatories by `cust_id`, every read scoped to the location, phone lookup with documented filters only and
its request count, no metadata cached during a data reload, and re-keying only when a key can help."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from server.caller import Caller
from server.db.models import IntentState
from server.intents import Asked, Intent
from server.sikka.client import Deadline, SikkaClient
from server.sikka.errors import AppNotAuthorized, PracticeNotAuthorized, SikkaValidationError
from server.sikka.gateway import PracticeGateway, SikkaGateway
from server.sikka.keys import RequestKeys
from server.sikka.writeback import WritebackOutcome, Writebacks
from server.vault.base import PracticeCredentials
from server.vault.cached import CachedVault
from tests.fixtures import example_items
from tests.unit.fakes import ACCOUNT, MemoryVault

pytestmark = pytest.mark.anyio
BASE = "https://sikka.test/v4"


class RecordingLedger:
    """What the write path tells the intent ledger, in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, ...]] = []
        self.database_down = False

    async def submitted(self, intent_id: str, writeback_id: str, *, office_offline: bool, first_check: Any) -> None:
        if self.database_down:
            raise OSError("connection refused")
        self.steps.append(("submitted", writeback_id, str(office_offline)))

    async def not_sent(self, intent: Intent, reason: str, *, actor: Caller, tell_staff: bool) -> bool:
        self.steps.append(("not_sent", reason))
        return True

    async def finish(self, intent: Intent, state: IntentState, **values: Any) -> bool:
        self.steps.append(("finish", state.value, str(values.get("created_id"))))
        return True


def booking_intent() -> Intent:
    return Intent(
        id="i1",
        account_id=ACCOUNT,
        tool="bookAppointment",
        kind="book_appointment",
        method="POST",
        endpoint="appointment",
        state=IntentState.INTENDED,
        writeback_id=None,
        created_id=None,
        office_offline=False,
        recorded_at=datetime.now(UTC),
        submitted_at=None,
        handed_to_staff_at=None,
        vapi_call_id="call-1",
        patient_ref="10001",
        target_id=None,
        body={"patient_id": "10001", "time": "09:30"},
        asked=Asked(tool="bookAppointment", request="book", who="Ann Lee", callback_number=None),
        reason="",
    )


CALLER = Caller(ACCOUNT, "tok_1", call_id="call-1")


def envelope(items: list[dict[str, str]]) -> dict[str, Any]:
    pagination = {"first": "", "previous": "", "current": "", "next": "", "last": ""}
    return {"offset": "0", "limit": "50", "total_count": str(len(items)), "pagination": pagination, "items": items}


def query(request: httpx.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(str(request.url)).query).items()}


@pytest.fixture
async def gateway() -> Any:
    credentials = PracticeCredentials(
        office_id="D1",
        secret_key="s",
        practice_id="2",
        pms_type="Open Dental",
        time_zone="Eastern Standard Time",
        request_key="key-1",
        refresh_key="refresh-1",
        token_expiry=datetime.now(UTC) + timedelta(hours=20),
    )
    async with httpx.AsyncClient() as http:
        client = SikkaClient(http=http, base_url=BASE, app_id="app", app_key="key")
        sessions = RequestKeys(client, CachedVault(MemoryVault(credentials)), cast(Any, None))
        writebacks = Writebacks(client, sessions, cast(Any, RecordingLedger()), budget_seconds=0.6)
        yield SikkaGateway(client, sessions, writebacks, metadata_ttl_seconds=900)


def view(gateway: SikkaGateway) -> PracticeGateway:
    return gateway.practice(ACCOUNT, Deadline.after(5))


def metadata_routes(reloading: list[bool] | None = None) -> dict[str, respx.Route]:
    """Sikka's metadata endpoints for a location "2" of a two-location office; while `reloading[0]` is true,
    every answer carries `Data-Insert: in progress`."""
    state = reloading or [False]

    def answer(items: list[dict[str, str]]) -> Any:
        def respond(request: httpx.Request) -> httpx.Response:
            headers = {"Data-Insert": "in progress" if state[0] else "completed"}
            return httpx.Response(200, json=envelope(items), headers=headers)

        return respond

    chairs = [
        {"provider_id": "", "practice_id": "2-0", "operatory": "B1", "cust_id": "77", "is_hidden": "F"},
        {"provider_id": "", "practice_id": "2-0", "operatory": "B9", "cust_id": "77", "is_hidden": "T"},
    ]
    bodies = {
        "practices": [
            {"practice_id": "1", "cust_id": "76", "name": "Main"},
            {"practice_id": "2", "cust_id": "77", "name": "Brooklyn", "website": "https://example.test"},
        ],
        "operatories": chairs,
        "providers": example_items("providers.json", "providers"),
        "practice_schedule": [],
        "practice_variables": example_items("practice_variables.json", "practice_variables"),
        "writeback_details": [{"category": "appttype", "item": "5", "description": "Adult prophylaxis"}],
    }
    routes = {name: respx.get(f"{BASE}/{name}").mock(side_effect=answer(items)) for name, items in bodies.items()}
    routes["supported_pmses"] = respx.get(f"{BASE}/supported_pmses").respond(json=envelope([]))
    return routes


@respx.mock
async def test_metadata_scopes_every_read_to_the_location_and_takes_chairs_by_cust_id(gateway: SikkaGateway) -> None:
    routes = metadata_routes()
    metadata = await view(gateway).metadata()

    chairs = query(routes["operatories"].calls.last.request)
    assert chairs == {"cust_id": "77", "is_hidden": "F", "limit": "500", "offset": "0"}  # §9: cust_id mandatory
    for name in ("practices", "providers", "practice_schedule", "practice_variables", "writeback_details"):
        assert query(routes[name].calls.last.request)["practice_id"] == "2", name
    assert query(routes["writeback_details"].calls.last.request)["category"] == "appttype"
    assert [o.operatory for o in metadata.open_operatories] == ["B1"]  # hidden chairs never bookable
    assert metadata.practice.website == "https://example.test"
    assert metadata.statuses[0].value == "open.unconfirm"  # practice_variables values are what writes send
    assert [t.value for t in metadata.appointment_types] == ["5"]


@respx.mock
async def test_metadata_read_during_a_data_reload_is_used_but_not_cached(gateway: SikkaGateway) -> None:
    reloading = [True]
    routes = metadata_routes(reloading)
    await view(gateway).metadata()
    await view(gateway).metadata()
    assert routes["providers"].call_count == 2

    reloading[0] = False
    await view(gateway).metadata()
    await view(gateway).metadata()
    assert routes["providers"].call_count == 3  # once the data is complete, it is cached


def patient(patient_id: str, **fields: str) -> dict[str, str]:
    return {
        "patient_id": patient_id,
        "firstname": "Ann",
        "lastname": "Lee",
        "birthdate": "1984-12-10T00:00:00",
        **fields,
    }


@respx.mock
async def test_phone_lookup_uses_search_in_the_stored_forms(gateway: SikkaGateway) -> None:
    family = [patient("1", cell="408-555-0101"), patient("2", homephone="408-555-0101", birthdate="2012-01-01")]
    route = respx.get(f"{BASE}/patients").respond(json=envelope(family))

    found = await view(gateway).find_patients(phone="+14085550101")

    assert [p.patient_id for p in found] == ["1", "2"]  # a family sharing the number, once each
    sent = [query(call.request) for call in route.calls]
    assert sorted(q["search"] for q in sent) == ["(408) 555-0101", "408-555-0101", "4085550101"]
    assert {(q["practice_id"], q["fields"]) for q in sent} == {("2", "homephone,workphone")}
    assert all("find" not in q for q in sent)  # no undocumented like_ wildcards
    born = await view(gateway).find_patients(phone="+14085550101", birthdate=date(2012, 1, 1))
    assert [p.patient_id for p in born] == ["2"]  # the birthdate is checked here, not in RQL


@respx.mock
async def test_phone_lookup_searches_every_stored_form_at_once(gateway: SikkaGateway) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        term = query(request)["search"]
        rows = [patient("3", workphone="(408) 555-0101")] if term == "(408) 555-0101" else []
        rows += [patient("4", cell="408-555-0199")] if term == "408-555-0101" else []  # a partial match elsewhere
        return httpx.Response(200, json=envelope(rows)) if rows else httpx.Response(204)

    route = respx.get(f"{BASE}/patients").mock(side_effect=answer)

    found = await view(gateway).find_patients(phone="+14085550101")

    assert [p.patient_id for p in found] == ["3"]  # stored in another form; the partial match is dropped
    assert sorted(query(call.request)["search"] for call in route.calls) == [
        "(408) 555-0101",
        "408-555-0101",
        "4085550101",
    ]


@respx.mock
async def test_a_failure_among_concurrent_reads_is_raised_as_itself(gateway: SikkaGateway) -> None:
    """Not wrapped in an ExceptionGroup, which no tool could name (it answered `internal_error`)."""
    refused = {"error_code": "API2007", "short_message": "not authorized"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json=refused) if query(request)["search"] == "4085550101" else httpx.Response(204)

    respx.get(f"{BASE}/patients").mock(side_effect=answer)
    with pytest.raises(PracticeNotAuthorized):  # the phone lookup's three concurrent searches
        await view(gateway).find_patients(phone="+14085550101")
    metadata_routes()
    respx.get(f"{BASE}/practice_schedule").respond(401, json=refused)
    with pytest.raises(PracticeNotAuthorized):  # the metadata's concurrent reads
        await view(gateway).metadata()


@respx.mock
async def test_names_use_the_documented_filters(gateway: SikkaGateway) -> None:
    route = respx.get(f"{BASE}/patients").respond(json=envelope([patient("1"), patient("5", firstname="Annabel")]))
    full = await view(gateway).find_patients(first_name="Ann", last_name="Lee")
    assert {k: v for k, v in query(route.calls.last.request).items() if k in ("firstname", "lastname")} == {
        "firstname": "Ann",
        "lastname": "Lee",
    }
    assert len(full) == 2
    by_surname = await view(gateway).find_patients(surnames=["De La Cruz", "La Cruz", "Cruz", "Cruz"])
    assert query(route.calls.last.request)["find"] == (
        "lastname=eq_De La Cruz::OR::lastname=eq_La Cruz::OR::lastname=eq_Cruz"
    )
    assert query(route.calls.last.request)["limit"] == "500"  # every patient with those last names, at once
    assert len(by_surname) == 2  # the caller matches the rest
    one_word = await view(gateway).find_patients(word="ann")
    assert query(route.calls.last.request)["search"] == "ann"
    assert [p.patient_id for p in one_word] == ["1"]  # "Annabel" is not "Ann"


@respx.mock
async def test_app_credential_errors_are_not_a_reason_to_rekey(gateway: SikkaGateway) -> None:
    respx.get(f"{BASE}/patients").respond(401, json={"error_code": "API2004", "short_message": "not in plan"})
    grants = respx.post(f"{BASE}/request_key").respond(json={"request_key": "key-2"})
    with pytest.raises(AppNotAuthorized):
        await view(gateway).patient("1")
    assert grants.call_count == 0


@respx.mock
async def test_an_expired_key_is_replaced_once(gateway: SikkaGateway) -> None:
    respx.get(f"{BASE}/patients").mock(
        side_effect=[
            httpx.Response(400, json={"error_code": "API1025"}),
            httpx.Response(200, json=envelope([patient("1")])),
        ]
    )
    grants = respx.post(f"{BASE}/request_key").respond(json={"request_key": "key-2", "expires_in": "86400 second(s)"})
    assert (await view(gateway).patient("1")) is not None
    assert grants.call_count == 1
    assert json.loads(grants.calls.last.request.content)["grant_type"] == "refresh_key"


def ledger(gateway: SikkaGateway) -> RecordingLedger:
    return cast(RecordingLedger, gateway.writebacks.ledger)


async def send(gateway: SikkaGateway) -> WritebackOutcome:
    return await gateway.writebacks.send(booking_intent(), CALLER, Deadline.after(5))


@respx.mock
async def test_a_rejected_status_poll_rekeys_once_then_the_write_is_pending(gateway: SikkaGateway) -> None:
    respx.post(f"{BASE}/appointment").respond(201, json={"error_code": "API2016", "long_message": "Id:555"})
    polls = respx.get(f"{BASE}/writeback_status").respond(401, json={"short_message": "unauthorized"})
    grants = respx.post(f"{BASE}/request_key").respond(json={"request_key": "key-2", "expires_in": "86400 second(s)"})

    assert await send(gateway) == WritebackOutcome("pending", "555")
    assert grants.call_count == 1
    assert polls.call_count == 2  # the poll, and its one retry with the new key
    assert ledger(gateway).steps == [("submitted", "555", "False")]  # stored before any poll


@respx.mock
async def test_every_write_asks_sikka_to_check_the_practice_system_first(gateway: SikkaGateway) -> None:
    posts = respx.post(f"{BASE}/appointment").respond(201, json={"error_code": "API2016", "long_message": "Id:7"})
    respx.get(f"{BASE}/writeback_status").respond(
        200, json=[envelope([{"id": "7", "is_completed": "True", "has_error": "False", "created_id": "901"}])]
    )
    outcome = await send(gateway)
    assert (outcome.status, outcome.created_id) == ("confirmed", "901")
    assert json.loads(posts.calls.last.request.content) == {"patient_id": "10001", "time": "09:30", "check_spu": "true"}
    assert ledger(gateway).steps == [("submitted", "7", "False"), ("finish", "confirmed", "901")]


@respx.mock
async def test_an_offline_practice_system_queues_the_write_at_sikka_and_answers_at_once(gateway: SikkaGateway) -> None:
    offline = httpx.Response(412, json={"error_code": "API2017", "log_message": "Sikka platform utility is offline"})
    queued = httpx.Response(201, json={"error_code": "API2016", "long_message": "Id:8"})
    posts = respx.post(f"{BASE}/appointment").mock(side_effect=[offline, queued])
    polls = respx.get(f"{BASE}/writeback_status")
    outcome = await send(gateway)
    assert outcome == WritebackOutcome("pending", "8", office_offline=True)
    assert [json.loads(call.request.content).get("check_spu") for call in posts.calls] == ["true", None]
    assert polls.call_count == 0  # nothing will change before the office's computer is back: no waiting
    assert ledger(gateway).steps == [("submitted", "8", "True")]


@respx.mock
async def test_a_write_sikka_refuses_is_recorded_as_not_sent(gateway: SikkaGateway) -> None:
    respx.post(f"{BASE}/appointment").respond(400, json={"error_code": "API1026", "short_message": "Invalid"})
    with pytest.raises(SikkaValidationError):
        await send(gateway)
    assert ledger(gateway).steps == [("not_sent", "Invalid")]


@respx.mock
@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("no answer"),
        httpx.Response(503, json={"error_code": "API2002"}),
        httpx.Response(201, json={"error_code": "API2016", "long_message": "queued"}),  # 2xx without an id
    ],
)
async def test_a_write_that_may_have_reached_sikka_is_unknown_and_never_resent(
    gateway: SikkaGateway, answer: httpx.Response | Exception
) -> None:
    posts = respx.post(f"{BASE}/appointment").mock(side_effect=[answer])
    assert await send(gateway) == WritebackOutcome("unknown", None)
    assert posts.call_count == 1
    assert ledger(gateway).steps == []  # left as intended: the follower looks for it at Sikka


@respx.mock
async def test_a_receipt_the_database_cannot_take_is_kept_for_the_follower(gateway: SikkaGateway) -> None:
    respx.post(f"{BASE}/appointment").respond(201, json={"error_code": "API2016", "long_message": "Id:9"})
    respx.get(f"{BASE}/writeback_status").respond(200, json=[envelope([{"id": "9", "is_completed": "False"}])])
    ledger(gateway).database_down = True
    outcome = await send(gateway)
    assert outcome == WritebackOutcome("pending", "9")  # the caller still hears the truth
    assert gateway.writebacks.unsaved["i1"].writeback_id == "9"
