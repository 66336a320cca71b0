"""How each answer is audited (tools/results.py): by its outcome, except codes whose meaning differs from it."""

from __future__ import annotations

import pytest

from tools.codes import OUTCOME_OF
from tools.results import AUDIT_BY_CODE, AUDIT_OUTCOMES, AppointmentResult, ToolResult


@pytest.mark.parametrize(("outcome", "audited"), sorted(AUDIT_OUTCOMES.items()))
def test_an_answer_is_audited_by_its_outcome(outcome: str, audited: tuple[str, int]) -> None:
    for some_code in (code for code, its in OUTCOME_OF.items() if its == outcome and code not in AUDIT_BY_CODE):
        result = ToolResult.model_validate({"message": "m", "outcome": outcome, "code": some_code})
        audit, status, code = result.audit_outcome()
        assert (audit, status) == audited
        assert code == (None if audit == "success" else some_code)


def test_a_duplicate_that_found_the_first_still_running_is_no_success() -> None:
    busy = AppointmentResult(message="busy", outcome="pending", code="duplicate_in_progress")
    sent = AppointmentResult(message="sent", outcome="pending", code="booked_pending")
    assert busy.audit_outcome() == ("failed", 409, "duplicate_in_progress")  # it did nothing and knows no result
    assert sent.audit_outcome() == ("success", 202, None)
