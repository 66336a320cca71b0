"""`phi reencrypt` reaches every encrypted column: one row is written into each through the code that writes it
in production, the key is rotated, and afterwards everything decrypts with the new key alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.db.models import Account, IdempotencyKey, WritebackStatus
from server.messages import MessageDetails
from server.phi.cipher import Binding
from server.phi.reencrypt import ENCRYPTED_COLUMNS, reencrypt
from server.services import Services, open_services
from server.sikka.writeback import WritebackOutcome
from server.vault.base import PracticeCredentials
from tests.conftest import make_settings, new_phi_key

pytestmark = pytest.mark.anyio
ACCOUNT = "acct_rotation"


async def write_one_of_each(services: Services) -> str:
    """A row in every encrypted column; returns the staff message's id."""
    async with services.sessions.begin() as session:
        session.add(Account(id=ACCOUNT, name="Rotation Dental"))
    credentials = PracticeCredentials(office_id="D1", secret_key="s" * 32, practice_id="1")
    await services.vault.put(ACCOUNT, credentials)
    records = services.phi_store
    lookup = await records.pending_patient_lookup(ACCOUNT, "Ann", "Lee", "+14085550101")  # creates the index key
    await records.add_pending_patient(ACCOUNT, "wb1", lookup, {"firstName": "Ann"})
    await records.add_followup(ACCOUNT, "contact_update", {"email": "a@example.com"}, "call-1")
    await records.add_consents(ACCOUNT, "10001", {"sms": True}, "call-1")
    ledger = services.follower.ledger
    await ledger.record_pending(ACCOUNT, "wb2", "book_appointment", None)
    (pending,) = await ledger.claim_due(datetime.now(UTC) + timedelta(minutes=1), timedelta(0))
    await ledger.finish(
        pending, WritebackStatus(pending.status), WritebackOutcome("confirmed", "wb2", "501", "Appointment created")
    )
    result = await services.cipher.encrypt(
        b'{"message":"Booked."}', Binding("idempotency_keys", "result", "k" * 64, ACCOUNT)
    )
    async with services.sessions.begin() as session:
        session.add(
            IdempotencyKey(key_hash="k" * 64, account_id=ACCOUNT, tool="bookAppointment", status="done", result=result)
        )
    await services.notify_endpoints.set(ACCOUNT, "https://practice.test/hook")
    return await services.messages.add(
        ACCOUNT, MessageDetails("Ann Lee", "+12125550100", "call me", None), "soon", None
    )


async def test_reencrypt_reaches_every_encrypted_column(database_url: str) -> None:
    old_key, new_key = new_phi_key(), new_phi_key()
    url = database_url
    async with open_services(make_settings(url, phi_encryption_key=old_key)) as services:
        message_id = await write_one_of_each(services)
    rotated = make_settings(url, phi_encryption_key=new_key, phi_encryption_old_keys=old_key)
    async with open_services(rotated) as services:
        counts = await reencrypt(services)
    assert counts == {column.model.__tablename__: 1 for column in ENCRYPTED_COLUMNS}
    async with open_services(make_settings(url, phi_encryption_key=new_key)) as services:
        (message,) = await services.messages.open_messages(ACCOUNT)
        assert (message.id, message.details.reason) == (message_id, "call me")
        endpoint = await services.notify_endpoints.get(ACCOUNT)
        assert endpoint is not None
        assert endpoint.secret.startswith("whsec_")
        assert (await services.vault.get(ACCOUNT)).office_id == "D1"
        assert await reencrypt(services, dry_run=True) == dict.fromkeys(counts, 0)
