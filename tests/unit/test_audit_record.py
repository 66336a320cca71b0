"""The audit block (`async with audit.record(...) as entry`): one record when the block ends, by its answer's
outcome or as a failure; no record, no answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from server.audit import AuditUnavailable, AuditWriter
from server.caller import Caller

pytestmark = pytest.mark.anyio


@dataclass
class Answer:
    outcome: tuple[str, int, str | None]

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return self.outcome


class Recorded(AuditWriter):
    """Keeps the records instead of committing them; `down` fails every write."""

    def __init__(self, *, down: bool = False) -> None:
        self.records: list[dict[str, Any]] = []
        self.down = down

    async def write(self, record: dict[str, Any]) -> None:
        if self.down:
            raise AuditUnavailable("the audit record could not be written")
        self.records.append(record)


def written(writer: Recorded) -> list[tuple[str, str, int, str | None, str]]:
    return [
        (r["action"], r["outcome"], r["response_status"], r["error_code"], r["request_summary"]) for r in writer.records
    ]


async def test_the_answer_is_recorded_by_its_outcome_when_the_block_ends() -> None:
    writer = Recorded()
    async with writer.record("lookupPatient", Caller.system("test"), crud="R", phi_fields=("name",)) as entry:
        entry.summary = "look up a patient"
        answer = entry.answered(Answer(("denied", 403, "identity_mismatch")))
        assert writer.records == []  # nothing is written before the block ends
    assert answer.outcome == ("denied", 403, "identity_mismatch")
    assert written(writer) == [("lookupPatient", "denied", 403, "identity_mismatch", "look up a patient")]


async def test_an_exception_is_recorded_as_a_failure_and_raised() -> None:
    writer = Recorded()
    with pytest.raises(LookupError):
        async with writer.record("practices.sync", Caller.system("test"), crud="U", phi_fields=()):
            raise LookupError
    assert written(writer) == [("practices.sync", "failed", 500, "LookupError", "")]


async def test_without_a_record_the_block_fails_closed_carrying_its_answer() -> None:
    answer = Answer(("success", 200, None))
    with pytest.raises(AuditUnavailable) as raised:
        async with Recorded(down=True).record(
            "bookAppointment", Caller.system("test"), crud="C", phi_fields=()
        ) as entry:
            entry.answered(answer)
    assert raised.value.result is answer


async def test_a_block_must_say_its_answer() -> None:
    writer = Recorded()
    with pytest.raises(RuntimeError, match="without an answer"):
        async with writer.record("vapi.callEnded", Caller.system("test"), crud="D", phi_fields=()):
            pass
    assert writer.records == []


async def test_the_crud_letter_is_checked() -> None:
    with pytest.raises(ValueError, match="crud must be one of"):
        async with Recorded().record("x", Caller.system("test"), crud="X", phi_fields=()):
            pass
