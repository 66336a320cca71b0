"""The sandbox as a Starlette app: Sikka's `/v4/...` endpoints and the `/_admin/...` controls.

Every `/v4` request goes through the same steps: due writebacks complete, the request is counted and
rate-limited, configured latency (a constant or a seeded draw, sandbox.latency) and injected latency are
slept, an injected fault may answer instead, then the caller is authenticated and the endpoint runs; the
request joins the timeline (`GET /_admin/requests`) as it is answered. Responses carry X-Rate-Limit-* headers,
and data responses `Request-Key-Expires`.

A Request-Key reads every listed location of its office whose API access is on (`practice_location`);
the reads Sikka filters by `practice_id` (practices, patients, appointments, providers, pms_users,
practice_schedule, appointment_statuses, practice_variables, appointments_available_slots,
writeback_details, patient_balance, insurance_companies, insurance_plan_coverage) take it as the
location's id ("1", as `/practices` lists it, also where rows show "1-1", §23.2): filtered when given,
every location otherwise. Naming a location whose access is off answers API2007, and so does a key grant
(`POST /request_key`, exchange or refresh) while a location it covers has its access off (the conservative
reading of what the docs leave open; sandbox.state); a read covering a location whose data is not uploaded yet
answers API2010 (HTTP 500, §5). `operatories` is scoped by its mandatory `cust_id` instead. The endpoints §3
names (patients, appointments) send `Data-Insert`: "in progress" while a location in scope is reloading, else
"completed".
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from sandbox import fields, pms, slots, views
from sandbox.admin import ADMIN_ROUTES, LocalOnly
from sandbox.envelopes import CATALOG, Record, SikkaError, envelope, invalid, list_envelope
from sandbox.fields import Shape
from sandbox.practice import Practice
from sandbox.query import (
    Filter,
    apply_filters,
    exact,
    on_day,
    on_or_after,
    on_or_before,
    paging,
    project,
    search,
    verbatim,
)
from sandbox.state import RequestKey, SandboxState
from sandbox.writebacks import (
    NEW_APPOINTMENT,
    NEW_PATIENT,
    PATIENT_UPDATE,
    RESCHEDULE,
    STATUS_CHANGE,
    Kind,
    text,
)

WRITEBACK_LIST_MAX_DAYS = 7


class Auth(enum.Enum):
    """How an endpoint authenticates its caller."""

    NONE = enum.auto()
    APP = enum.auto()  # App-Id + App-Key headers (support endpoints)
    KEY = enum.auto()  # Request-Key header (data endpoints)


@dataclass
class Call:
    """One authenticated request to a /v4 endpoint."""

    request: Request
    state: SandboxState
    key: RequestKey | None
    body: dict[str, Any]
    started: float

    @property
    def params(self) -> Mapping[str, str]:
        return self.request.query_params

    @property
    def base_url(self) -> str:
        """Where the sandbox is served (the URL before `/v4/`), including any mount prefix."""
        return str(self.request.url.replace(query="")).rsplit("/v4/", 1)[0]

    @property
    def office_id(self) -> str:
        assert self.key is not None, "a Request-Key endpoint"
        return self.key.office_id

    @property
    def scope(self) -> list[Practice]:
        """The locations this read covers: the one `practice_id` names, else every readable one."""
        listed = [practice for practice in self.state.practices(self.office_id) if practice.listed]
        wanted = self.params.get("practice_id", "")
        named = [practice for practice in listed if wanted in ("", practice.practice_id)]
        if wanted and any(not practice.access for practice in named):
            raise SikkaError("API2007")
        covered = [practice for practice in named if practice.access]
        if any(not practice.uploaded for practice in covered):
            raise SikkaError("API2010")
        return covered

    def records(self, collection: Callable[[Practice], Iterable[Record]]) -> list[Record]:
        return list(itertools.chain.from_iterable(collection(practice) for practice in self.scope))


Handler = Callable[[Call], Response]


def list_response(
    call: Call,
    shape: Shape,
    records: Iterable[Record],
    filters: Mapping[str, Filter] | None = None,
    *,
    wrapped: bool = False,
) -> Response:
    """A filtered page of `records` in Sikka's list envelope (in a one-element array if `wrapped`), or 204."""
    matching = apply_filters(records, call.params, filters or {})
    limit, offset = paging(call.params)
    page = matching[offset * limit : (offset + 1) * limit]
    if not page:
        return Response(status_code=204)
    body = list_envelope(
        project(page, shape.select(call.params.get("fields", ""))),
        total=len(matching),
        limit=limit,
        offset=offset,
        page_url=lambda index: str(call.request.url.include_query_params(offset=index, limit=limit)),
        execution_ms=int((time.perf_counter() - call.started) * 1000),
    )
    return JSONResponse([body] if wrapped else body)


def _exact(*names: str) -> dict[str, Filter]:
    return {name: exact(name) for name in names}


PHONES = ("cell", "homephone", "workphone")
PATIENT_FILTERS = {
    **_exact("patient_id", "provider_id", "guarantor_id", "firstname", "lastname", "email", "status"),
    # Stored phones come in mixed formats and are compared as stored (§23.5). `phone` names no patient
    # field and its meaning is undocumented: it is ignored, so the rows come back unfiltered.
    **{name: verbatim(name) for name in PHONES},
    "first_visit": on_day("first_visit"),
    "last_visit": on_day("last_visit"),
    "search": search(("firstname", "lastname", "middlename", "email", "city", "state", "zipcode", *PHONES)),
}
APPOINTMENT_FILTERS = {
    **_exact("appointment_sr_no", "patient_id", "guarantor_id", "provider_id", "status", "operatory", "type"),
    "startdate": on_or_after("date"),
    "enddate": on_or_before("date"),
}
PROVIDER_FILTERS = _exact(
    "provider_id", "provider_type", "firstname", "lastname", "national_provider_identifier", "status", "is_user"
)
SCHEDULE_FILTERS = {
    **_exact("resource_type", "resource_id"),
    "date": on_day("date"),  # rows are week starts: another day matches nothing (§23.1)
}
PMS_FILTERS = _exact(
    "domain", "specialty", "practice_management_system", "practice_management_system_version", *fields.WRITEBACK_FLAGS
)
DATA_INSERT = "Data-Insert"


# Authentication


def request_key(call: Call) -> Response:
    grant = text(call.body, "grant_type")
    if grant not in ("request_key", "refresh_key"):
        raise invalid("grant_type must be request_key or refresh_key.")
    call.state.count(f"POST /request_key:{grant}")
    call.state.check_app(text(call.body, "app_id"), text(call.body, "app_key"))
    if grant == "request_key":
        key = call.state.issue_key(text(call.body, "office_id"), text(call.body, "secret_key"))
    else:
        key = call.state.refresh(text(call.body, "refresh_key"))
    return JSONResponse(views.request_key_body(key, call.state.now(), call.base_url))


def delete_request_key(call: Call) -> Response:
    assert call.key is not None
    call.state.revoke_request_key(call.key.request_key)
    return JSONResponse(envelope("API0002"))


def delete_refresh_key(call: Call) -> Response:
    call.state.delete_refresh_key(call.request.headers.get("Refresh-Key", ""))
    return JSONResponse(envelope("API0002"))


def request_key_info(call: Call) -> Response:
    key = call.state.resolve_key(call.params.get("request_key") or call.request.headers.get("Request-Key"))
    body = views.request_key_body(key, call.state.now(), call.base_url)
    return JSONResponse({name: body[name] for name in fields.REQUEST_KEY_INFO})


# Support endpoints (App-Id + App-Key)


def authorized_practices(call: Call) -> Response:
    every_location = call.params.get("show", "").casefold() == "all"
    rows = [
        views.authorized_practice(practice, call.state.now())
        for practice in call.state.practices()
        if practice.listed and (every_location or practice.practice_id == "1")
    ]
    return list_response(call, fields.AUTHORIZED_PRACTICES, rows, _exact("office_id", "practice_id"))


def practice_location(call: Call) -> Response:
    office_id = call.params.get("office_id", "")
    if not office_id:
        raise SikkaError("API1020", long_message="Missing parameter(s): office_id.")
    rows = [views.practice_location(p) for p in call.state.practices(office_id) if p.listed]
    return list_response(call, fields.PRACTICE_LOCATION, rows, _exact("practice_id"))


def set_practice_location(call: Call) -> Response:
    """`POST /practice_location` (§8): `practice_id` is a comma-separated list of the ids GET lists (§23.2),
    `access` exactly "ON" or "OFF" (case as documented)."""
    missing = [name for name in ("office_id", "practice_id", "access") if not text(call.body, name)]
    if missing:
        raise SikkaError("API1020", long_message=f"Missing parameter(s): {', '.join(missing)}.")
    access = text(call.body, "access")
    if access not in ("ON", "OFF"):
        raise invalid("access must be ON or OFF.")
    practice_ids = [part.strip() for part in text(call.body, "practice_id").split(",")]
    call.state.set_access(text(call.body, "office_id"), practice_ids, access == "ON")
    return JSONResponse(envelope("API4006", long_message="Practice location(s) updated successfully"))


def supported_pmses(call: Call) -> Response:
    return list_response(call, fields.SUPPORTED_PMSES, pms.supported_pmses(), PMS_FILTERS)


def writebacks(call: Call) -> Response:
    """`GET /writebacks` (§20): the app's writebacks of every office (it is an APP call), by the day of their
    `command_time`. Only `id` is a documented filter; `office_id`, `result` and `method` are fields, not
    parameters, so they filter nothing (the least convenient reading: callers pick their office's rows)."""
    first, last = _date_param(call, "startdate"), _date_param(call, "enddate")
    if not 0 <= (last - first).days <= WRITEBACK_LIST_MAX_DAYS:
        raise invalid(f"enddate must be from startdate to {WRITEBACK_LIST_MAX_DAYS} days later.")
    rows = [
        writeback.listing_row() for writeback in call.state.writebacks if first <= writeback.request_time.date() <= last
    ]
    return list_response(call, fields.WRITEBACKS, rows, _exact("id"))


def delete_writeback(call: Call) -> Response:
    writeback_id = call.params.get("id", "")
    if not writeback_id.isdigit():
        raise invalid("id must be a writeback id.")
    writeback = call.state.writebacks.get(int(writeback_id))
    if writeback is None:
        raise SikkaError("API2009")
    if writeback.is_completed:
        raise invalid(f"Writeback {writeback_id} is already completed.")
    call.state.writebacks.delete(writeback.id)
    return JSONResponse(envelope("API4006"))


def _date_param(call: Call, name: str) -> date:
    try:
        return date.fromisoformat(call.params.get(name, ""))
    except ValueError:
        raise invalid(f"{name} (yyyy-mm-dd) is required.") from None


# Data endpoints (Request-Key)


def practices(call: Call) -> Response:
    rows = [views.practices(practice) for practice in call.scope]
    return list_response(call, fields.PRACTICES, rows, _exact("national_provider_identifier"))


def patients(call: Call) -> Response:
    response = list_response(call, fields.PATIENTS, call.records(lambda p: p.patients.values()), PATIENT_FILTERS)
    return _with_data_insert(call, response)


def appointments(call: Call) -> Response:
    records = call.records(lambda p: p.appointments.values())
    return _with_data_insert(call, list_response(call, fields.APPOINTMENTS, records, APPOINTMENT_FILTERS))


def _with_data_insert(call: Call, response: Response) -> Response:
    reloading = any(practice.reloading for practice in call.scope)
    response.headers[DATA_INSERT] = "in progress" if reloading else "completed"
    return response


def providers(call: Call) -> Response:
    return list_response(call, fields.PROVIDERS, call.records(lambda p: p.providers), PROVIDER_FILTERS)


def pms_users(call: Call) -> Response:
    records = call.records(lambda p: p.users)
    return list_response(call, fields.PMS_USERS, records, _exact("user_id", "firstname", "lastname", "status"))


def operatories(call: Call) -> Response:
    """`cust_id` is mandatory (§9); `practice_id` is not a documented parameter here and is ignored."""
    cust_id = call.params.get("cust_id", "")
    if not cust_id:
        raise SikkaError("API1026", long_message="cust_id is required.")
    records = [
        row
        for practice in call.state.practices(call.office_id)
        if practice.listed and practice.access and practice.cust_id == cust_id
        for row in practice.operatories
    ]
    return list_response(call, fields.OPERATORIES, records, _exact("is_hidden"))


def practice_schedule(call: Call) -> Response:
    return list_response(call, fields.PRACTICE_SCHEDULE, call.records(lambda p: p.schedule), SCHEDULE_FILTERS)


def appointment_statuses(call: Call) -> Response:
    records = call.records(views.appointment_statuses)
    return list_response(call, fields.APPOINTMENT_STATUSES, records, _exact("status"))


def practice_variables(call: Call) -> Response:
    records = call.records(views.practice_variables)
    return list_response(call, fields.PRACTICE_VARIABLES, records, _exact("service_name", "service_item"))


def available_slots(call: Call) -> Response:
    now = call.state.now()
    records = call.records(lambda p: slots.available_slots(p, now, call.params))
    return list_response(call, fields.AVAILABLE_SLOTS, records, _exact("provider_id", "operatory"))


def writeback_details(call: Call) -> Response:
    if not call.params.get("writeback_type", ""):
        raise SikkaError("API1020", long_message="Missing parameter(s): writeback_type.")
    filters = {**_exact("writeback_type", "item"), "category": verbatim("category")}
    return list_response(call, fields.WRITEBACK_DETAILS, call.records(views.writeback_details), filters)


def patient_balance(call: Call) -> Response:
    now = call.state.now()
    records = call.records(lambda p: views.patient_balances(p, now))
    return list_response(call, fields.PATIENT_BALANCE, records, _exact("patient_id", "customer_id"))


def insurance_companies(call: Call) -> Response:
    records = call.records(lambda p: p.insurance_companies)
    return list_response(call, fields.INSURANCE_COMPANIES, records, _exact("insurance_company_id", "carrier_id"))


def insurance_plan_coverage(call: Call) -> Response:
    records = call.records(lambda p: p.coverage)
    return list_response(call, fields.INSURANCE_PLAN_COVERAGE, records, _exact("insurance_company_id"))


def writeback_status(call: Call) -> Response:
    wanted = call.params.get("id", "")
    rows = [
        writeback.status_row()
        for writeback in call.state.writebacks_of(call.office_id)
        if wanted in ("", str(writeback.id))
    ]
    # Documented quirk: writeback_status wraps its envelope in a one-element array.
    return list_response(call, fields.WRITEBACK_STATUS, rows, wrapped=True)


def submit(kind: Kind) -> Handler:
    """A writeback endpoint: queue the change and answer with the receipt."""

    def handler(call: Call) -> Response:
        target = next(iter(call.request.path_params.values()), "")
        key = call.key.request_key if call.key else ""
        writeback = call.state.submit(kind, call.office_id, call.body, target, request_key=key)
        receipt = envelope(
            kind.receipt,
            long_message=f"Id:{writeback.id}",
            more_information=f"{call.base_url}/v4/writeback_status?id={writeback.id}",
        )
        return JSONResponse(receipt, status_code=int(CATALOG[kind.receipt].http_code))

    return handler


# Plumbing


async def serve(request: Request, endpoint: str, handler: Handler, auth: Auth) -> Response:
    """Run one /v4 request through counting, rate limiting, latency, faults and authentication."""
    state: SandboxState = request.app.state.sandbox
    started = time.perf_counter()
    state.complete_due_writebacks()
    state.count(f"{request.method} /{endpoint}")
    allowed, limits = state.rate_window.hit(state.now(), state.config.rate_limit_per_minute)
    fault = state.faults.on_request(endpoint, request.method)
    delay = state.request_latency() + fault.latency_seconds
    key: RequestKey | None = None
    try:
        body = await _json_body(request)  # the whole request is in: a client that leaves now changes nothing
        if delay:
            await asyncio.sleep(delay)
        if fault.response is not None:
            response = fault.response
        elif not allowed:
            raise SikkaError("API2012", long_message="Requests per minute exceeded")
        else:
            key = _authenticate(state, request, auth)
            response = handler(Call(request, state, key, body, started))
    except SikkaError as error:
        response = JSONResponse(error.body(), status_code=error.status)
    for name, value in limits.items():
        response.headers.setdefault(name, value)
    if key is not None:
        response.headers["Request-Key-Expires"] = views.http_date(key.end_time)
    state.timeline.add(f"{request.method} /{endpoint}", request.url.query, started, time.perf_counter())
    return response


def _authenticate(state: SandboxState, request: Request, auth: Auth) -> RequestKey | None:
    if auth is Auth.APP:
        state.check_app(request.headers.get("App-Id"), request.headers.get("App-Key"))
    elif auth is Auth.KEY:
        return state.resolve_key(request.headers.get("Request-Key"))
    return None


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


ENDPOINTS: list[tuple[str, str, Auth, Handler]] = [
    ("POST", "/request_key", Auth.NONE, request_key),
    ("DELETE", "/request_key", Auth.KEY, delete_request_key),
    ("DELETE", "/refresh_key", Auth.APP, delete_refresh_key),
    ("GET", "/request_key_info", Auth.NONE, request_key_info),
    ("GET", "/authorized_practices", Auth.APP, authorized_practices),
    ("GET", "/practice_location", Auth.APP, practice_location),
    ("POST", "/practice_location", Auth.APP, set_practice_location),
    ("GET", "/supported_pmses", Auth.APP, supported_pmses),
    ("GET", "/writebacks", Auth.APP, writebacks),
    ("DELETE", "/writebacks", Auth.APP, delete_writeback),
    ("GET", "/practices", Auth.KEY, practices),
    ("GET", "/patients", Auth.KEY, patients),
    ("GET", "/appointments", Auth.KEY, appointments),
    ("GET", "/providers", Auth.KEY, providers),
    ("GET", "/pms_users", Auth.KEY, pms_users),
    ("GET", "/operatories", Auth.KEY, operatories),
    ("GET", "/practice_schedule", Auth.KEY, practice_schedule),
    ("GET", "/appointment_statuses", Auth.KEY, appointment_statuses),
    ("GET", "/practice_variables", Auth.KEY, practice_variables),
    ("GET", "/appointments_available_slots", Auth.KEY, available_slots),
    ("GET", "/writeback_details", Auth.KEY, writeback_details),
    ("GET", "/patient_balance", Auth.KEY, patient_balance),
    ("GET", "/insurance_companies", Auth.KEY, insurance_companies),
    ("GET", "/insurance_plan_coverage", Auth.KEY, insurance_plan_coverage),
    ("GET", "/writeback_status", Auth.KEY, writeback_status),
    ("POST", "/appointment", Auth.KEY, submit(NEW_APPOINTMENT)),
    ("PUT", "/appointments/{appointment_sr_no}", Auth.KEY, submit(RESCHEDULE)),
    ("PATCH", "/appointments/{appointment_sr_no}", Auth.KEY, submit(STATUS_CHANGE)),
    ("POST", "/patient", Auth.KEY, submit(NEW_PATIENT)),
    ("PATCH", "/patient/{patient_id}", Auth.KEY, submit(PATIENT_UPDATE)),
]
KNOWN = frozenset(path.split("/")[1] for _, path, _, _ in ENDPOINTS)


def _route(method: str, path: str, auth: Auth, handler: Handler) -> Route:
    name = path.split("/")[1]

    async def endpoint(request: Request) -> Response:
        return await serve(request, name, handler, auth)

    return Route(f"/v4{path}", endpoint, methods=[method])


def _unrouted(call: Call) -> Response:
    """404 API2009 for an unknown endpoint, 405 API2014 for a known one with another method."""
    raise SikkaError("API2014" if call.request.path_params["path"].split("/")[0] in KNOWN else "API2009")


async def _fallback(request: Request) -> Response:
    return await serve(request, request.path_params["path"].split("/")[0], _unrouted, Auth.NONE)


def routes() -> list[BaseRoute]:
    return [
        *(_route(*endpoint) for endpoint in ENDPOINTS),
        Route("/v4/{path:path}", _fallback, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Mount("/_admin", app=LocalOnly(Router(ADMIN_ROUTES))),
    ]


def create_sandbox_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox app; its state (a new demo SandboxState by default) is `app.state.sandbox`."""
    app = Starlette(routes=routes())
    app.state.sandbox = state or SandboxState()
    return app
