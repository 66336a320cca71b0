"""Every outcome code each tool can answer, with its outcome, as strings: the registry (tools/codes.py) in the
shape the speaking-rules test runs through (tests/e2e/test_what_callers_hear.py) and `tests.support.call`
checks each answer any test receives against.
"""

from __future__ import annotations

from tools import codes
from tools.codes import OUTCOME_OF, Outcome

Codes = dict[str, Outcome]

EVERY_TOOL: Codes = {str(code): OUTCOME_OF[code] for code in codes.EVERY_TOOL}
CODES: dict[str, Codes] = {
    tool: {str(code): OUTCOME_OF[code] for code in codes.codes_of(tool)} for tool in codes.OWN_CODES
}

# The codes whose sentence says the office system could not be reached, and where that is what happened: Sikka
# refused or failed us, the office's server is offline, or its credentials could not be read from the vault.
UNREACHABLE = frozenset(
    {
        "rate_limited",
        "practice_offline",
        "practice_not_connected",
        "upstream_auth_failed",
        "app_not_authorized",
        "upstream_unavailable",
        "credentials_unavailable",
    }
)
