"""A voice call's server-side state over its lifecycle, as Vapi reports it: `call_started` when the call is in
progress, `call_ended` when it has ended (a `status-update` with status `ended`, or the `end-of-call-report`).
The caller carries the account (from the practice token), the call id and the number the call comes from.

What the server keeps per call today, and what the end of the call does to it:
- the per-call identity-attempt counters (server/throttle.py, scope `call`) are deleted: they only bound failed
  checks within that call. The counters per patient and per token stay, so ending a call frees no attacker.
- the call's prefetched reads (server/prefetch.py) are dropped.
- the call's settled write outcomes (`idempotency_keys`, replayed to a retry on the same call) are deleted.
  Replays answer retries within the call (the model's, or Vapi's); once the call has ended nothing retries it
  (the model gets no turn, and `vapi-config` sets no backoff plan), and the encrypted results, which hold PHI,
  need not outlive the call. A claim still in progress (a write running as the caller hung up) is left to its
  request, which settles it as usual; the retention purge removes that row later.
Ending a call is audited (`vapi.callEnded`, crud D) with what was removed.

`call_started` queues the call's prefetch (server/prefetch.py): it runs in the background, so the answer to
Vapi never waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete

from server.audit import AuditEntry
from server.caller import Caller
from server.db.models import IdempotencyKey, IdentityAttempt
from server.phi.blind_index import BlindIndex
from server.services import Services

CALL_SCOPE = "call"  # the identity-attempt scope whose subject is the call id (tools/identity.py: PER_CALL)
CALL_KEY_KIND = "idempotency-call"


async def call_key(index: BlindIndex, account_id: str, call_id: str) -> str:
    """The blind index of a call id, as the call's idempotency rows carry it (`call_key`)."""
    return await index.digest(account_id, CALL_KEY_KIND, call_id)


@dataclass(frozen=True)
class CallEnded:
    outcomes_removed: int
    counters_removed: int
    prefetches_removed: int = 0

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return "success", 200, None


async def call_started(services: Services, caller: Caller) -> None:
    """The call `caller.call_id` is in progress, from `caller.caller_number`: queue its prefetch."""
    services.prefetcher.start(caller)


async def call_ended(services: Services, caller: Caller) -> CallEnded:
    """Forget the state of the call `caller.call_id` (see the module's docstring); audited. Raises
    AuditUnavailable when the record cannot be written, and the database's errors."""
    async with services.audit.record("vapi.callEnded", caller, crud="D", phi_fields=()) as entry:
        return entry.answered(await _forget_call(entry, services))


async def _forget_call(entry: AuditEntry, services: Services) -> CallEnded:
    account_id, call_id = entry.account_id, entry.caller.call_id
    if not call_id:
        entry.summary = "call ended (no call id: nothing kept)"
        return CallEnded(0, 0)
    key = await call_key(services.blind_index, account_id, call_id)
    async with services.sessions.begin() as session:
        outcomes = await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.account_id == account_id,
                IdempotencyKey.call_key == key,
                IdempotencyKey.status == "done",
            )
        )
        counters = await session.execute(
            delete(IdentityAttempt).where(
                IdentityAttempt.account_id == account_id,
                IdentityAttempt.scope == CALL_SCOPE,
                IdentityAttempt.subject == call_id,
            )
        )
    prefetches = await services.prefetcher.forget(entry.caller)
    ended = CallEnded(int(outcomes.rowcount), int(counters.rowcount), prefetches)  # type: ignore[attr-defined]
    entry.summary = (
        f"call ended: {ended.outcomes_removed} stored outcomes, {ended.counters_removed} attempt counters, "
        f"{ended.prefetches_removed} prefetches removed"
    )
    return ended
