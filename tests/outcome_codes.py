"""Every outcome code each tool can answer, with its outcome: the list the speaking-rules test runs through
(tests/e2e/test_what_callers_hear.py), kept complete by tests/unit/test_outcome_codes.py (every code the tools'
source constructs is listed, every listed code is in the source) and by `tests.support.call`, which checks each
answer any test receives against it. Until the tools declare their codes themselves, this list is the registry.
"""

from __future__ import annotations

from tools.base import UNAVAILABLE_MESSAGES
from tools.results import Outcome

Codes = dict[str, Outcome]

# Any tool: arguments its model refuses, and the office system or this server failing.
EVERY_TOOL: Codes = {
    "invalid_arguments": "invalid",
    **{code: "unavailable" for code, _ in UNAVAILABLE_MESSAGES.values()},
    "internal_error": "unavailable",
}
# Tools behind the identity check (tools/identity.py).
IDENTITY: Codes = {"identity_mismatch": "needs_verification", "too_many_attempts": "needs_verification"}
# Writes that run once per call (tools/idempotency.py): a duplicate still running; on a retry, a write of an
# earlier attempt that never reached Sikka (tools/appointments.py, tools/patients.py answer it from its intent).
ONCE: Codes = {"duplicate_in_progress": "pending", "write_not_sent": "unavailable"}
# A new time is checked before a booking or a move is written (tools/appointments.py).
SLOT_CHECKS: Codes = {"time_in_past": "invalid", "too_soon": "refused", "closed": "refused", "slot_taken": "refused"}
# The appointment to move or cancel must be the verified patient's, and not cancelled.
OWNED: Codes = {"appointment_not_found": "not_found", "already_cancelled": "refused"}

OWN_CODES: dict[str, Codes] = {
    "searchPatients": {
        **IDENTITY,
        "name_or_phone_needed": "needs_verification",
        "no_match": "not_found",
        "too_many_matches": "needs_verification",
        "patients_found": "ok",
    },
    "getPatientInfo": {**IDENTITY, "patient_verified": "ok"},
    "createPatient": {
        **ONCE,
        "registration_pending": "pending",
        "registration_recorded_for_staff": "recorded_for_staff",
        "patient_created": "confirmed",
        "registration_failed": "refused",
    },
    "updatePatient": {
        **IDENTITY,
        **ONCE,
        "recorded_for_staff": "recorded_for_staff",
        "update_pending": "pending",
        "patient_updated": "confirmed",
        "consents_recorded": "confirmed",
    },
    "checkAvailability": {
        "unknown_provider": "not_found",
        "date_in_past": "invalid",
        "slots_found": "ok",
        "no_openings": "not_found",
        "closed": "not_found",
        "day_full": "not_found",
    },
    "bookAppointment": {
        **IDENTITY,
        **ONCE,
        **SLOT_CHECKS,
        "booking_recorded_for_staff": "recorded_for_staff",
        "booking_failed": "refused",
        "appointment_booked": "confirmed",
        "booked_pending": "pending",
    },
    "rescheduleAppointment": {
        **IDENTITY,
        **ONCE,
        **OWNED,
        **SLOT_CHECKS,
        "reschedule_recorded_for_staff": "recorded_for_staff",
        "already_at_that_time": "ok",
        "reschedule_failed": "refused",
        "appointment_moved": "confirmed",
        "moved_pending": "pending",
    },
    "cancelAppointment": {
        **IDENTITY,
        **ONCE,
        **OWNED,
        "cancel_recorded_for_staff": "recorded_for_staff",
        "appointment_cancelled": "confirmed",
        "cancel_pending": "pending",
        "cancel_failed": "refused",
    },
    "getPracticeInfo": {"practice_info": "ok"},
    "getProviders": {"no_providers": "not_found", "providers_found": "ok"},
    "checkInsuranceAccepted": {
        "carrier_name_needed": "invalid",
        "no_carrier_list": "not_found",
        "carrier_accepted": "ok",
        "carrier_not_listed": "not_found",
    },
    "getPatientBalance": {
        **IDENTITY,
        "balance_not_found": "not_found",
        "no_balance": "ok",
        "credit_balance": "ok",
        "balance_found": "ok",
    },
    "getPatientInsurance": {
        **IDENTITY,
        "no_insurance_on_file": "ok",
        "insurance_on_file": "ok",
        "coverage_not_listed": "not_found",
        "coverage_listed": "ok",
    },
    "takeMessage": {**IDENTITY, **ONCE, "callback_number_needed": "invalid", "message_taken": "confirmed"},
}
CODES: dict[str, Codes] = {tool: {**EVERY_TOOL, **own} for tool, own in OWN_CODES.items()}

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
