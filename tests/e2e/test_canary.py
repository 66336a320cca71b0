"""The PHI canary: a whole call, the webhook and the CLI with distinctive fake PHI and secrets. Every log line
(DEBUG, every logger), every audit row and every database byte is searched; no canary may appear."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import MetaData, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import DEMO_OFFICE_ID, SandboxState, registration_handshake
from server.db.engine import create_engine
from tests.support import Stack, call, mcp_client, practice_today, running_stack, serve, signed_webhook

pytestmark = pytest.mark.anyio

PHI = {
    "first": "Zebulonia",
    "last": "Quackenbushe",
    "dob": "1961-07-13",
    "phone": "(419) 555-0187",
    "email": "zebulonia.q@canary-mail.example",
    "street": "4417 Wisteria Canary Lane",
    "new_email": "zq.updated@canary-mail.example",
    "new_first": "Philomenax",
    "new_last": "Thistlewaite",
    "new_phone": "(419) 555-0163",
}
CANARY_OFFICE = "D77777"
CANARY_SECRET_KEY = "CANARYsecretKEY9f8e7d6c5b4a39281"
CANARY_SPU_KEY = "CANARY-SPU-INSTALLATION-KEY-5A4B3C2D1E0F"


def canaries(stack: Stack) -> dict[str, str]:
    """Every value that must never appear in plain text: PHI, their digit forms, and secrets."""
    values = dict(PHI)
    values["phone_digits"] = "4195550187"
    values["new_phone_digits"] = "4195550163"
    values["secret_key"] = CANARY_SECRET_KEY
    values["spu_key"] = CANARY_SPU_KEY
    values["app_key"] = stack.settings.sikka_app_key.get_secret_value()  # type: ignore[union-attr]
    values["token"] = stack.token
    values["notify_secret"] = stack.extra["notify_secret"]
    for key in stack.sandbox.issued_keys():
        values[f"key:{key[:6]}"] = key
    return values


def add_canary_patient(state: SandboxState) -> str:
    practice = state.practice(DEMO_OFFICE_ID)
    template = next(iter(practice.patients.values()))
    patient_id = "99901"
    practice.patients[patient_id] = {
        **template,
        "patient_id": patient_id,
        "firstname": PHI["first"],
        "lastname": PHI["last"],
        "preferred_name": "",
        "birthdate": f"{PHI['dob']}T00:00:00",
        "cell": "419-555-0187",
        "homephone": "",
        "workphone": "",
        "email": PHI["email"],
        "address_line1": PHI["street"],
        "status": "Active",
    }
    return patient_id


@pytest.fixture
def stack(tmp_path: Path, captured_logs: io.StringIO) -> Iterator[Stack]:
    with running_stack(f"sqlite+aiosqlite:///{tmp_path / 'canary.db'}") as running:
        running.sandbox.add_practice(CANARY_OFFICE, secret_key=CANARY_SECRET_KEY, name="Canary Dental", seed=3)
        yield running


async def run_phone_call(stack: Stack, patient_id: str) -> None:
    async with mcp_client(stack.mcp_url, stack.token, call_id="canary-call") as client:
        found = await call(client, "searchPatients", {"phone": PHI["phone"], "name": f"{PHI['first']} {PHI['last']}"})
        assert [m["patientId"] for m in found["matches"]] == [patient_id], found
        me = {"patientId": patient_id, "dateOfBirth": PHI["dob"], "name": f"{PHI['first']} {PHI['last']}"}
        info = await call(client, "getPatientInfo", me)
        assert info["outcome"] == "ok", info
        wrong = await call(client, "getPatientInfo", {**me, "dateOfBirth": "1961-07-14"})
        assert wrong["outcome"] == "needs_verification"
        day = practice_today() + timedelta(days=4)
        slots = await call(
            client,
            "checkAvailability",
            {"startDate": day.isoformat(), "endDate": (day + timedelta(days=5)).isoformat()},
        )
        booked = await call(
            client,
            "bookAppointment",
            {
                **me,
                "startTime": slots["slots"][0]["startTime"],
                "notes": f"{PHI['first']} has a toothache",
            },
        )
        assert booked["outcome"] == "confirmed", booked
        updated = await call(
            client,
            "updatePatient",
            {
                **me,
                "email": PHI["new_email"],
                "address": {"line1": PHI["street"], "city": "Toledo"},
                "consents": {"sms": True, "email": False},
            },
        )
        assert updated["outcome"] == "recorded_for_staff", updated
        created = await call(
            client,
            "createPatient",
            {
                "firstName": PHI["new_first"],
                "lastName": PHI["new_last"],
                "dateOfBirth": "1988-02-29",
                "phone": PHI["new_phone"],
                "email": PHI["new_email"],
                "consents": {"phone": True},
            },
        )
        assert created["outcome"] in ("confirmed", "pending"), created
        message = {
            "callerName": f"{PHI['first']} {PHI['last']}",
            "callbackNumber": PHI["phone"],
            "reason": f"{PHI['first']} asks about {PHI['street']}",
            "patient": me,
        }
        taken = await call(client, "takeMessage", message)
        assert taken["outcome"] == "confirmed", taken
        balance = await call(client, "getPatientBalance", me)
        assert balance["outcome"] in ("ok", "not_found"), balance
        insurance = await call(client, "getPatientInsurance", {**me, "category": "crowns"})
        assert insurance["outcome"] in ("ok", "not_found"), insurance
        invalid = await call(client, "searchPatients", {"phone": f"{PHI['first']} not a phone"})
        assert invalid["isError"]
        assert PHI["first"] not in json.dumps(invalid)


async def run_webhook(stack: Stack) -> None:
    body = {
        "event": "app.authorized",
        "app_id": stack.settings.sikka_app_id.get_secret_value(),  # type: ignore[union-attr]
        "office_id": CANARY_OFFICE,
        "secret_key": CANARY_SECRET_KEY,
        "practice_name": "Canary Dental",
        "practice_id": "1",
    }
    raw, headers = signed_webhook(body)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{stack.app_url}/api/sikka/webhook/authorize", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        forged = await http.post(
            f"{stack.app_url}/api/sikka/webhook/authorize", content=raw, headers={"webhook-id": "x"}
        )
        assert forged.status_code == 401
        handshake = {
            **registration_handshake(stack.sandbox.practice(CANARY_OFFICE)),
            "SPUInstallationKey": CANARY_SPU_KEY,
            "EmailAddress": PHI["email"],
            "Phone": PHI["phone"],
        }
        registered = await http.post(f"{stack.app_url}/api/sikka/webhook/authorize", json=handshake)
        assert registered.status_code == 202, registered.text


async def run_malformed_requests(stack: Stack) -> None:
    """JSON-RPC the SDK itself must refuse, with PHI where a value is invalid: validation errors get logged."""
    headers = {"Authorization": f"Bearer {stack.token}", "Accept": "application/json, text/event-stream"}
    phi = f"{PHI['first']} {PHI['last']} {PHI['dob']}"
    bodies = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "searchPatients", "arguments": phi}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": phi, "arguments": {}}},
        {"jsonrpc": "2.0", "id": phi, "method": "tools/call", "params": [phi]},
    ]
    async with httpx.AsyncClient() as http:
        for body in bodies:
            response = await http.post(stack.mcp_url, json=body, headers=headers)
            assert response.status_code < 500, response.text


def run_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.settings.database_url,
        "PHI_ENCRYPTION_KEY": stack.settings.phi_encryption_key.get_secret_value(),  # type: ignore[union-attr]
        "SIKKA_API_URL": stack.settings.sikka_api_url,
        "SIKKA_APP_ID": stack.settings.sikka_app_id.get_secret_value(),  # type: ignore[union-attr]
        "SIKKA_APP_KEY": stack.settings.sikka_app_key.get_secret_value(),  # type: ignore[union-attr]
        "LOG_LEVEL": "DEBUG",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


async def database_dump(url: str) -> str:
    """Every column of every row, as text (bytes decoded leniently)."""
    engine = create_engine(url)
    metadata = MetaData()
    chunks: list[str] = []
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for value in row:
                    chunks.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    await engine.dispose()
    return "\n".join(chunks)


def raw_files(database: Path) -> bytes:
    return b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))


async def test_no_canary_in_logs_audit_or_database(stack: Stack, captured_logs: io.StringIO, tmp_path: Path) -> None:
    patient_id = add_canary_patient(stack.sandbox)
    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=204)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiving:
        notify = ("practices", "notify-url", "--account-id", stack.account_id, "--url", f"{receiving.url}/hook")
        configured = run_cli(stack, *notify, "--json")
        stack.extra["notify_secret"] = json.loads(configured.stdout)["secret"]
        await run_phone_call(stack, patient_id)
        deadline = time.monotonic() + 20
        while not received:  # the server's delivery worker posts the message
            assert time.monotonic() < deadline, "the message was not delivered"
            await anyio.sleep(0.05)
    assert PHI["street"].encode() in received[0]  # PHI travels only in the body, to the practice's own URL
    await run_webhook(stack)
    await run_malformed_requests(stack)
    since = (date.today() - timedelta(days=1)).isoformat()
    until = (date.today() + timedelta(days=1)).isoformat()
    cli_logs = [
        configured.stderr,
        run_cli(stack, "messages", "list", "--account-id", stack.account_id).stderr,
        run_cli(stack, "audit", "verify").stderr,
        run_cli(stack, "audit", "report", "--account-id", stack.account_id, "--since", since, "--until", until).stderr,
        run_cli(stack, "practices", "sync").stderr,
        run_cli(stack, "practices", "list").stderr,
        run_cli(stack, "retention", "purge", "--dry-run").stderr,
        run_cli(stack, "phi", "reencrypt", "--dry-run").stderr,
        run_cli(stack, "tokens", "issue", "--account-id", stack.account_id, "--json").stderr,
    ]
    logs = captured_logs.getvalue() + "\n".join(cli_logs)
    assert "searchPatients" in logs or "sikka request" in logs  # the capture really saw the traffic
    dump = await database_dump(stack.settings.database_url)
    assert "identity_mismatch" in dump  # the audit rows are in the dump
    files = raw_files(tmp_path / "canary.db")
    leaks = {
        name: where
        for name, value in canaries(stack).items()
        for where, haystack in (("logs", logs), ("database", dump), ("database file", files.decode("latin-1")))
        if value.lower() in haystack.lower()
    }
    assert leaks == {}, leaks
