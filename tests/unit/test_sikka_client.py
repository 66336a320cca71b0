"""Each quirk of sikka-api.md §2–§7, against respx-mocked responses."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from server.audit.record import note_upstream, upstream_calls
from server.sikka.client import NO_CREDENTIALS, Deadline, Item, Paging, SikkaClient, SikkaResponse
from server.sikka.errors import (
    AppNotAuthorized,
    DataNotReady,
    PracticeNotAuthorized,
    RateLimited,
    SikkaAuthError,
    SikkaUnavailable,
    SikkaValidationError,
    SpuOffline,
)
from server.sikka.keys import parse_grant
from server.sikka.writeback import WritebackOutcome, parse_receipt, read_status
from tests.fixtures import example

pytestmark = pytest.mark.anyio
BASE = "https://sikka.test/v4"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
async def client() -> Any:
    async with httpx.AsyncClient() as http:
        yield SikkaClient(http=http, base_url=BASE, app_id="app", app_key="key", sleep=Sleeps(), jitter=lambda: 0.5)


def envelope(items: list[dict[str, str]], *, offset: int = 0, limit: int = 50, next_link: str = "") -> dict[str, Any]:
    return {
        "offset": str(offset),
        "limit": str(limit),
        "total_count": str(len(items)),
        "execution_time": "5",
        "pagination": {"first": "", "previous": "", "current": "", "next": next_link, "last": ""},
        "items": items,
    }


async def read_items(client: SikkaClient, endpoint: str, seconds: float = 5) -> list[Item]:
    return (await client.listing(endpoint, credentials=NO_CREDENTIALS, deadline=Deadline.after(seconds))).items


@respx.mock
async def test_list_envelope_items_are_returned_as_strings(client: SikkaClient) -> None:
    respx.get(f"{BASE}/patients").respond(json=example("patients.json", "patients"))
    items = await read_items(client, "patients")
    assert items[0]["patient_id"] == "799601"
    assert items[0]["birthdate"] == "1984-12-10T00:00:00"


@respx.mock
async def test_array_wrapped_envelope_is_unwrapped(client: SikkaClient) -> None:
    respx.get(f"{BASE}/writeback_status").respond(json=example("writeback_status.json", "writeback_status"))
    listing = await client.listing(
        "writeback_status", credentials=NO_CREDENTIALS, deadline=Deadline.after(5), paging=Paging(every=False)
    )
    assert [item["id"] for item in listing.items] == ["490481"]


@respx.mock
async def test_204_and_empty_bodies_are_no_items(client: SikkaClient) -> None:
    respx.get(f"{BASE}/appointments_available_slots").respond(204)
    respx.get(f"{BASE}/providers").respond(200, content=b"")
    assert (
        await client.listing("appointments_available_slots", credentials=NO_CREDENTIALS, deadline=Deadline.after(5))
    ).items == []
    assert await read_items(client, "providers") == []


@respx.mock
async def test_http_200_error_envelope_is_an_error(client: SikkaClient) -> None:
    body = {
        "http_code": "200",
        "error_code": "API4002",
        "short_message": "Error while decrypting string",
        "long_message": "",
        "more_information": "",
    }
    respx.get(f"{BASE}/patients").respond(200, json=body)
    with pytest.raises(SikkaValidationError) as info:
        await read_items(client, "patients")
    assert info.value.code == "API4002"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "API1025", SikkaAuthError),
        (400, "API1004", SikkaAuthError),
        (401, "", SikkaAuthError),
        (401, "API2003", AppNotAuthorized),  # our app id/key: a new request key cannot help
        (401, "API2004", AppNotAuthorized),  # the API is not in our plan
        (401, "API2007", PracticeNotAuthorized),
        (412, "API2017", SpuOffline),
        (500, "API2010", DataNotReady),
        (400, "API1020", SikkaValidationError),
        (404, "API2009", SikkaValidationError),
    ],
)
@respx.mock
async def test_error_taxonomy(client: SikkaClient, status: int, code: str, error: type[Exception]) -> None:
    respx.get(f"{BASE}/patients").respond(status, json={"error_code": code, "short_message": "x"})
    with pytest.raises(error):
        await read_items(client, "patients")


@respx.mock
async def test_429_retries_after_the_reset_then_succeeds(client: SikkaClient) -> None:
    route = respx.get(f"{BASE}/patients")
    route.side_effect = [
        httpx.Response(429, json={"error_code": "API2012"}, headers={"X-Rate-Limit-Reset": "1.5"}),
        httpx.Response(200, json=envelope([{"patient_id": "1"}])),
    ]
    items = await read_items(client, "patients")
    assert items == [{"patient_id": "1"}]
    assert client.sleep.calls == [1.5]  # type: ignore[attr-defined]


@respx.mock
async def test_429_whose_reset_is_past_the_deadline_fails_at_once(client: SikkaClient) -> None:
    respx.get(f"{BASE}/patients").respond(429, json={"error_code": "API2011"}, headers={"X-Rate-Limit-Reset": "40"})
    with pytest.raises(RateLimited) as info:
        await read_items(client, "patients")
    assert info.value.retry_after == 40
    assert client.sleep.calls == []  # type: ignore[attr-defined]


@respx.mock
async def test_5xx_is_retried_for_reads_with_backoff_then_gives_up(client: SikkaClient) -> None:
    route = respx.get(f"{BASE}/patients").respond(503, json={"error_code": "API2002"})
    with pytest.raises(SikkaUnavailable):
        await read_items(client, "patients", 30)
    assert route.call_count == 4
    delays = client.sleep.calls  # type: ignore[attr-defined]
    assert delays == sorted(delays)
    assert len(delays) == 3


@respx.mock
async def test_writes_are_not_retried_once_they_may_have_reached_sikka(client: SikkaClient) -> None:
    route = respx.post(f"{BASE}/appointment")
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(201, json={"long_message": "Id:1"})]
    with pytest.raises(SikkaUnavailable):
        await client.send("POST", "appointment", credentials=NO_CREDENTIALS, deadline=Deadline.after(5), json_body={})
    assert route.call_count == 1


@respx.mock
async def test_writes_are_retried_when_the_connection_never_opened(client: SikkaClient) -> None:
    route = respx.post(f"{BASE}/appointment")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(201, json={"long_message": "Id:7"})]
    response = await client.send(
        "POST", "appointment", credentials=NO_CREDENTIALS, deadline=Deadline.after(5), json_body={}
    )
    assert parse_receipt(response) == "7"
    assert route.call_count == 2


@respx.mock
async def test_writes_are_not_retried_on_5xx(client: SikkaClient) -> None:
    route = respx.post(f"{BASE}/appointment").respond(503, json={"error_code": "API2002"})
    with pytest.raises(SikkaUnavailable):
        await client.send("POST", "appointment", credentials=NO_CREDENTIALS, deadline=Deadline.after(5), json_body={})
    assert route.call_count == 1


@respx.mock
async def test_malformed_json_is_unavailable(client: SikkaClient) -> None:
    respx.get(f"{BASE}/patients").respond(200, content=b'{"items": [')
    with pytest.raises(SikkaUnavailable, match="malformed"):
        await read_items(client, "patients")


@respx.mock
async def test_offset_is_a_page_index(client: SikkaClient) -> None:
    route = respx.get(f"{BASE}/appointments")
    route.side_effect = [
        httpx.Response(200, json=envelope([{"n": "1"}, {"n": "2"}], next_link=f"{BASE}/appointments?offset=1&limit=2")),
        httpx.Response(200, json=envelope([{"n": "3"}], offset=1)),
    ]
    items = (
        await client.listing(
            "appointments", credentials=NO_CREDENTIALS, deadline=Deadline.after(5), paging=Paging(size=2)
        )
    ).items
    assert [item["n"] for item in items] == ["1", "2", "3"]
    offsets = [call.request.url.params["offset"] for call in route.calls]
    assert offsets == ["0", "1"]  # page indexes, not row counts (which would be 0, 2)


@respx.mock
async def test_requests_are_told_to_the_audit_through_the_request_hook(client: SikkaClient) -> None:
    respx.get(f"{BASE}/patients").respond(204)
    client.on_request = note_upstream
    with upstream_calls() as calls:
        await read_items(client, "patients")
    assert calls == ["GET patients"]


async def test_deadline_bounds_a_slow_read() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        import anyio

        await anyio.sleep(10)
        return httpx.Response(200, json=envelope([]))

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        client = SikkaClient(http=http, base_url=BASE, app_id="a", app_key="k")
        started = time.monotonic()
        with pytest.raises(SikkaUnavailable):
            await read_items(client, "patients", 0.5)
        assert time.monotonic() - started < 1.0


def test_request_key_expiry_from_expires_in_text() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    body = example("request_key.json", "POST /request_key (grant_type=request_key) response")
    grant = parse_grant(SikkaResponse(200, httpx.Headers(), body), now)
    assert grant.request_key == "4d74aaaxxxx22b"
    assert grant.refresh_key == "xxxxxxxxx"
    assert grant.expires_at == now + timedelta(seconds=85603)


def test_request_key_expiry_prefers_the_header() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    headers = httpx.Headers({"Request-Key-Expires": "Thu, 26 Nov 2026 10:00:00 GMT"})
    grant = parse_grant(SikkaResponse(200, headers, {"request_key": "k", "expires_in": "5 second(s)"}), now)
    assert grant.expires_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_receipts_carry_the_writeback_id() -> None:
    body = example("appointment_writeback.json", "POST /appointment: appointment - if successfull")
    assert parse_receipt(SikkaResponse(201, httpx.Headers(), body)) == "275495"
    patch = example("appointment_writeback.json", "PUT /appointments/{appointment_sr_no} (reschedule): appointment")
    assert parse_receipt(SikkaResponse(200, httpx.Headers(), patch)) == "159357"


def status_response(**fields: str) -> SikkaResponse:
    item = {
        "id": "9",
        "is_completed": "False",
        "has_error": "False",
        "status": "Pending",
        "result": "",
        **fields,
    }
    return SikkaResponse(200, httpx.Headers(), [envelope([item])])


def booking(response: SikkaResponse) -> WritebackOutcome:
    return read_status(response, "9", "book_appointment")


def test_created_id_is_the_new_record_not_the_writeback_id() -> None:
    outcome = booking(status_response(is_completed="True", status="Success", created_id="70671"))
    assert outcome.status == "confirmed"
    assert outcome.created_id == "70671"
    assert outcome.writeback_id == "9"


def test_a_bookings_patient_id_is_never_its_appointment_id() -> None:
    item = {"is_completed": "True", "status": "Success", "patient_id": "10001", "created_id": ""}
    assert booking(status_response(**item)).created_id is None
    assert booking(status_response(**item, appointment_sr_no="70002")).created_id == "70002"
    registration = read_status(status_response(**item), "9", "create_patient")
    assert registration.created_id == "10001"


def test_the_documented_status_example_confirms_a_new_patient() -> None:
    response = SikkaResponse(200, httpx.Headers(), example("writeback_status.json", "writeback_status"))
    outcome = read_status(response, "490481", "create_patient")
    assert (outcome.status, outcome.message) == ("confirmed", "New Patient inserted successfully")


@pytest.mark.parametrize("flag", ["True", "true", "TRUE", "t"])
def test_status_strings_compare_without_case(flag: str) -> None:
    assert (
        read_status(status_response(is_completed=flag, created_id="1"), "9", "book_appointment").status == "confirmed"
    )
    failed = booking(status_response(is_completed=flag, has_error=flag, result="already scheduled"))
    assert failed.status == "failed"
    assert failed.message == "already scheduled"


@pytest.mark.parametrize("flag", ["False", "false", ""])
def test_not_completed_is_pending(flag: str) -> None:
    assert booking(status_response(is_completed=flag)).status == "pending"


def test_no_status_item_yet_is_pending() -> None:
    assert booking(SikkaResponse(204, httpx.Headers(), None)).status == "pending"


class Renewable:
    """Credentials whose key Sikka rejects until it has been renewed `needed` times."""

    def __init__(self, needed: int) -> None:
        self.renewals = 0
        self.needed = needed

    async def headers(self) -> dict[str, str]:
        return {"Request-Key": "live" if self.renewals >= self.needed else f"dead-{self.renewals}"}

    async def rejected(self) -> bool:
        self.renewals += 1
        return True


def key_checking(request: httpx.Request) -> httpx.Response:
    if request.headers["Request-Key"] != "live":
        return httpx.Response(401, json={"error_code": "API1025"})
    page = request.url.params["offset"]
    link = f"{BASE}/patients?offset=1" if page == "0" else ""
    return httpx.Response(200, json=envelope([{"patient_id": page}], next_link=link))


@respx.mock
async def test_rejected_credentials_are_renewed_once_per_send(client: SikkaClient) -> None:
    route = respx.get(f"{BASE}/patients").mock(side_effect=key_checking)
    twice = Renewable(needed=2)
    with pytest.raises(SikkaAuthError):
        await client.send("GET", "patients", credentials=twice, deadline=Deadline.after(5), params={"offset": 0})
    assert (twice.renewals, route.call_count) == (1, 2)  # a key rejected again is not renewed a second time
    once = Renewable(needed=1)
    listing = await client.listing("patients", credentials=once, deadline=Deadline.after(5))
    assert [item["patient_id"] for item in listing.items] == ["0", "1"]
    assert once.renewals == 1
