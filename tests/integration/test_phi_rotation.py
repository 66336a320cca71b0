"""`phi reencrypt` reaches every encrypted column: one row is written into each through the code that writes it
in production, the key is rotated, and afterwards everything decrypts with the new key alone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from server.caller import Caller
from server.db.models import Account, IdempotencyKey, InboxKind, IntentState, PendingPatient
from server.inbox import StaffNote
from server.intents import Asked, Write
from server.phi.cipher import Binding
from server.phi.reencrypt import ENCRYPTED_COLUMNS, reencrypt
from server.services import Services, open_services
from server.sikka import Listing
from server.vault.base import PracticeCredentials
from tests.conftest import make_settings, new_phi_key

pytestmark = pytest.mark.anyio
ACCOUNT = "acct_rotation"


async def write_one_of_each(services: Services) -> str:
    """A row in every encrypted column; returns the staff inbox item's id."""
    async with services.sessions.begin() as session:
        session.add(Account(id=ACCOUNT, name="Rotation Dental"))
    credentials = PracticeCredentials(office_id="D1", secret_key="s" * 32, practice_id="1")
    await services.vault.put(ACCOUNT, credentials)
    await services.blind_index.digest(ACCOUNT, "new-patient", "ann", "lee", "1980-01-01")  # creates the index key
    await services.phi_store.add_consents(ACCOUNT, "10001", {"sms": True}, "call-1")
    legacy = await services.cipher.encrypt_json(
        {"firstName": "Ann"}, Binding("pending_patients", "data", "p1", ACCOUNT)
    )
    async with services.sessions.begin() as session:  # written by earlier versions only
        session.add(PendingPatient(id="p1", account_id=ACCOUNT, writeback_id="wb1", lookup="l" * 64, data=legacy))
    write = Write("book_appointment", "POST", "appointment", {"patient_id": "10001"})
    asked = Asked(tool="bookAppointment", request="book Monday 9 AM", who="Ann Lee", callback_number=None)
    intent = await services.intents.record(ACCOUNT, write, asked, Caller(ACCOUNT, "tok"), None)
    await services.intents.submitted(intent.id, "wb2", office_offline=False, first_check=datetime.now(UTC))
    done = await services.intents.get(intent.id)
    assert done is not None
    await services.intents.finish(
        done, IntentState.CONFIRMED, created_id="501", reason="Created", actor=Caller.system("t")
    )
    result = await services.cipher.encrypt(
        b'{"message":"Booked."}', Binding("idempotency_keys", "result", "k" * 64, ACCOUNT)
    )
    async with services.sessions.begin() as session:
        session.add(
            IdempotencyKey(key_hash="k" * 64, account_id=ACCOUNT, tool="bookAppointment", status="done", result=result)
        )
    store = services.prefetcher.store
    call_key = await store.call_key(ACCOUNT, "call-1")
    assert await store.claim(ACCOUNT, call_key, requests=1, ttl=timedelta(minutes=5), budget=10) == "claimed"
    assert await store.fill(ACCOUNT, call_key, {"patients": Listing([{"patient_id": "10001"}])}, requests=1)
    await services.notify_endpoints.set(ACCOUNT, "https://practice.test/hook")
    return await services.inbox.post(
        ACCOUNT, InboxKind.MESSAGE, StaffNote("call me", caller_name="Ann Lee"), urgency="soon", vapi_call_id=None
    )


async def test_reencrypt_reaches_every_encrypted_column(database_url: str) -> None:
    old_key, new_key = new_phi_key(), new_phi_key()
    url = database_url
    async with open_services(make_settings(url, phi_encryption_key=old_key)) as services:
        message_id = await write_one_of_each(services)
    rotated = make_settings(url, phi_encryption_key=new_key, phi_encryption_old_keys=old_key)
    async with open_services(rotated) as services:
        counts = await reencrypt(services)
    assert counts == Counter(column.model.__tablename__ for column in ENCRYPTED_COLUMNS)
    async with open_services(make_settings(url, phi_encryption_key=new_key)) as services:
        (message,) = await services.inbox.open_items(ACCOUNT)
        assert (message.id, message.note.reason) == (message_id, "call me")
        endpoint = await services.notify_endpoints.get(ACCOUNT)
        assert endpoint is not None
        assert endpoint.secret.startswith("whsec_")
        assert (await services.vault.get(ACCOUNT)).office_id == "D1"
        store = services.prefetcher.store
        held = await store.listings(ACCOUNT, await store.call_key(ACCOUNT, "call-1"))
        assert held == {"patients": Listing([{"patient_id": "10001"}])}
        assert await reencrypt(services, dry_run=True) == dict.fromkeys(counts, 0)
