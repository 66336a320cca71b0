"""`parlae-mcp phi reencrypt`: move every stored envelope to the current key (after rotating PHI keys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from server.db.models import (
    CallPrefetch,
    Consent,
    IdempotencyKey,
    MessageEndpoint,
    PendingPatient,
    PhiIndexKey,
    StaffMessage,
    VaultSecret,
    WriteIntent,
)
from server.inbox import item_binding
from server.intents import data_binding, result_binding
from server.notify import endpoint_binding
from server.phi.cipher import Binding, PhiCipher
from server.prefetch_store import data_binding as prefetch_binding
from server.services import Services


@dataclass(frozen=True)
class EncryptedColumn:
    """One column of envelopes and how to rebuild each row's binding."""

    model: Any
    column: InstrumentedAttribute[Any]
    binding: Callable[[Any], Binding]
    binary: bool = False


def vault_account(name: str) -> str:
    return name.rsplit("/", 1)[-1]


# Every encrypted column this service stores. tests/integration/test_phi_rotation.py writes a row into each and
# checks that re-encryption reaches it.
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(
        VaultSecret,
        VaultSecret.ciphertext,
        lambda r: Binding("vault_secrets", "ciphertext", r.name, vault_account(r.name)),
        binary=True,
    ),
    EncryptedColumn(
        PhiIndexKey,
        PhiIndexKey.wrapped_key,
        lambda r: Binding("phi_index_keys", "wrapped_key", r.account_id, r.account_id),
    ),
    EncryptedColumn(
        IdempotencyKey, IdempotencyKey.result, lambda r: Binding("idempotency_keys", "result", r.key_hash, r.account_id)
    ),
    EncryptedColumn(
        PendingPatient, PendingPatient.data, lambda r: Binding("pending_patients", "data", r.id, r.account_id)
    ),
    EncryptedColumn(Consent, Consent.data, lambda r: Binding("consents", "data", r.id, r.account_id)),
    EncryptedColumn(StaffMessage, StaffMessage.data, lambda r: item_binding(r.id, r.account_id, r.sealed_as)),
    EncryptedColumn(MessageEndpoint, MessageEndpoint.secret, lambda r: endpoint_binding(r.account_id)),
    EncryptedColumn(WriteIntent, WriteIntent.data, lambda r: data_binding(r.id, r.account_id)),
    EncryptedColumn(WriteIntent, WriteIntent.result, lambda r: result_binding(r.id, r.account_id)),
    EncryptedColumn(CallPrefetch, CallPrefetch.data, lambda r: prefetch_binding(r.account_id, r.call_key)),
)


async def reencrypt(services: Services, *, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt envelopes not written with the current key; counts per table."""
    cipher: PhiCipher = services.cipher
    current_key_id, _ = await cipher.keys.encryption_key()
    counts: dict[str, int] = {}
    for spec in ENCRYPTED_COLUMNS:
        name = spec.model.__tablename__
        counts.setdefault(name, 0)
        async with services.sessions.begin() as session:
            rows = (await session.scalars(select(spec.model).where(spec.column.is_not(None)))).all()
            for row in rows:
                raw = getattr(row, spec.column.key)
                envelope = raw.decode() if spec.binary else raw
                if PhiCipher.key_id_of(envelope) == current_key_id:
                    continue
                counts[name] += 1
                if dry_run:
                    continue
                binding = spec.binding(row)
                fresh = await cipher.encrypt(await cipher.decrypt(envelope, binding), binding)
                setattr(row, spec.column.key, fresh.encode() if spec.binary else fresh)
    return counts
