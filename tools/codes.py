"""The one registry of outcome codes: every `code` an answer can carry, the `outcome` it always has, and which
tools can answer it. Results refuse a code with another outcome (tools/results.py), each tool's output schema
lists its codes as an enum (tools/spec.py), and docs/vapi.md §4 is tested against this table.

Outcomes: `ok` (a read answered), `confirmed`, `pending`, `recorded_for_staff`, `not_found`,
`needs_verification`, `refused`, `invalid` (bad arguments) and `unavailable` (upstream down).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Outcome = Literal[
    "ok",
    "confirmed",
    "pending",
    "recorded_for_staff",
    "not_found",
    "needs_verification",
    "refused",
    "invalid",
    "unavailable",
]


class Code(StrEnum):
    # any tool, and the tool-calls adapter's own answers (app/toolcalls.py)
    INVALID_ARGUMENTS = "invalid_arguments"
    UNKNOWN_TOOL = "unknown_tool"
    TOO_MANY_CALLS = "too_many_calls"
    RATE_LIMITED = "rate_limited"
    PRACTICE_OFFLINE = "practice_offline"
    DATA_NOT_READY = "data_not_ready"
    PRACTICE_NOT_CONNECTED = "practice_not_connected"
    UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
    APP_NOT_AUTHORIZED = "app_not_authorized"
    UPSTREAM_REJECTED = "upstream_rejected"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    CREDENTIALS_UNAVAILABLE = "credentials_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    INTERNAL_ERROR = "internal_error"
    # the identity check, and writes that run once per call
    IDENTITY_MISMATCH = "identity_mismatch"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    DUPLICATE_IN_PROGRESS = "duplicate_in_progress"
    WRITE_NOT_SENT = "write_not_sent"
    # searchPatients, getPatientInfo
    NAME_OR_PHONE_NEEDED = "name_or_phone_needed"
    NO_MATCH = "no_match"
    TOO_MANY_MATCHES = "too_many_matches"
    PATIENTS_FOUND = "patients_found"
    PATIENT_VERIFIED = "patient_verified"
    # createPatient, updatePatient
    REGISTRATION_PENDING = "registration_pending"
    REGISTRATION_RECORDED_FOR_STAFF = "registration_recorded_for_staff"
    PATIENT_CREATED = "patient_created"
    REGISTRATION_FAILED = "registration_failed"
    RECORDED_FOR_STAFF = "recorded_for_staff"
    UPDATE_PENDING = "update_pending"
    PATIENT_UPDATED = "patient_updated"
    CONSENTS_RECORDED = "consents_recorded"
    # checkAvailability
    UNKNOWN_PROVIDER = "unknown_provider"
    UNKNOWN_PROVIDER_NAME = "unknown_provider_name"
    AMBIGUOUS_PROVIDER = "ambiguous_provider"
    DATE_IN_PAST = "date_in_past"
    SLOTS_FOUND = "slots_found"
    NO_OPENINGS = "no_openings"
    OFFICE_CLOSED = "office_closed"
    DAY_FULL = "day_full"
    # a new time, checked before a booking or a move
    TIME_IN_PAST = "time_in_past"
    TOO_SOON = "too_soon"
    CLOSED = "closed"
    SLOT_TAKEN = "slot_taken"
    # the appointment to move or cancel
    APPOINTMENT_NOT_FOUND = "appointment_not_found"
    ALREADY_CANCELLED = "already_cancelled"
    # bookAppointment, rescheduleAppointment, cancelAppointment
    BOOKING_RECORDED_FOR_STAFF = "booking_recorded_for_staff"
    BOOKING_FAILED = "booking_failed"
    APPOINTMENT_BOOKED = "appointment_booked"
    BOOKED_PENDING = "booked_pending"
    RESCHEDULE_RECORDED_FOR_STAFF = "reschedule_recorded_for_staff"
    ALREADY_AT_THAT_TIME = "already_at_that_time"
    RESCHEDULE_FAILED = "reschedule_failed"
    APPOINTMENT_MOVED = "appointment_moved"
    MOVED_PENDING = "moved_pending"
    CANCEL_RECORDED_FOR_STAFF = "cancel_recorded_for_staff"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    CANCEL_PENDING = "cancel_pending"
    CANCEL_FAILED = "cancel_failed"
    # questions anyone may ask
    PRACTICE_INFO = "practice_info"
    NO_PROVIDERS = "no_providers"
    PROVIDERS_FOUND = "providers_found"
    CARRIER_NAME_NEEDED = "carrier_name_needed"
    NO_CARRIER_LIST = "no_carrier_list"
    CARRIER_ACCEPTED = "carrier_accepted"
    CARRIER_NOT_LISTED = "carrier_not_listed"
    # balances and insurance
    BALANCE_NOT_FOUND = "balance_not_found"
    NO_BALANCE = "no_balance"
    CREDIT_BALANCE = "credit_balance"
    BALANCE_FOUND = "balance_found"
    NO_INSURANCE_ON_FILE = "no_insurance_on_file"
    INSURANCE_ON_FILE = "insurance_on_file"
    COVERAGE_NOT_LISTED = "coverage_not_listed"
    COVERAGE_LISTED = "coverage_listed"
    # takeMessage
    CALLBACK_NUMBER_NEEDED = "callback_number_needed"
    MESSAGE_TAKEN = "message_taken"


C = Code
_BY_OUTCOME: dict[Outcome, tuple[Code, ...]] = {
    "ok": (
        C.PATIENTS_FOUND,
        C.PATIENT_VERIFIED,
        C.SLOTS_FOUND,
        C.PRACTICE_INFO,
        C.PROVIDERS_FOUND,
        C.CARRIER_ACCEPTED,
        C.BALANCE_FOUND,
        C.NO_BALANCE,
        C.CREDIT_BALANCE,
        C.INSURANCE_ON_FILE,
        C.NO_INSURANCE_ON_FILE,
        C.COVERAGE_LISTED,
        C.ALREADY_AT_THAT_TIME,
    ),
    "confirmed": (
        C.APPOINTMENT_BOOKED,
        C.APPOINTMENT_MOVED,
        C.APPOINTMENT_CANCELLED,
        C.PATIENT_CREATED,
        C.PATIENT_UPDATED,
        C.CONSENTS_RECORDED,
        C.MESSAGE_TAKEN,
    ),
    "pending": (
        C.BOOKED_PENDING,
        C.MOVED_PENDING,
        C.CANCEL_PENDING,
        C.REGISTRATION_PENDING,
        C.UPDATE_PENDING,
        C.DUPLICATE_IN_PROGRESS,
    ),
    "recorded_for_staff": (
        C.RECORDED_FOR_STAFF,
        C.REGISTRATION_RECORDED_FOR_STAFF,
        C.BOOKING_RECORDED_FOR_STAFF,
        C.CANCEL_RECORDED_FOR_STAFF,
        C.RESCHEDULE_RECORDED_FOR_STAFF,
    ),
    "not_found": (
        C.NO_MATCH,
        C.APPOINTMENT_NOT_FOUND,
        C.UNKNOWN_PROVIDER,
        C.DAY_FULL,
        C.OFFICE_CLOSED,
        C.NO_OPENINGS,
        C.NO_PROVIDERS,
        C.CARRIER_NOT_LISTED,
        C.NO_CARRIER_LIST,
        C.BALANCE_NOT_FOUND,
        C.COVERAGE_NOT_LISTED,
    ),
    "needs_verification": (C.IDENTITY_MISMATCH, C.TOO_MANY_ATTEMPTS, C.TOO_MANY_MATCHES, C.NAME_OR_PHONE_NEEDED),
    "refused": (
        C.SLOT_TAKEN,
        C.TOO_SOON,
        C.CLOSED,
        C.BOOKING_FAILED,
        C.RESCHEDULE_FAILED,
        C.CANCEL_FAILED,
        C.REGISTRATION_FAILED,
        C.ALREADY_CANCELLED,
        C.TOO_MANY_CALLS,
    ),
    "invalid": (
        C.INVALID_ARGUMENTS,
        C.UNKNOWN_TOOL,
        C.UNKNOWN_PROVIDER_NAME,
        C.AMBIGUOUS_PROVIDER,
        C.DATE_IN_PAST,
        C.TIME_IN_PAST,
        C.CARRIER_NAME_NEEDED,
        C.CALLBACK_NUMBER_NEEDED,
    ),
    "unavailable": (
        C.WRITE_NOT_SENT,
        C.UPSTREAM_UNAVAILABLE,
        C.RATE_LIMITED,
        C.PRACTICE_OFFLINE,
        C.DATA_NOT_READY,
        C.PRACTICE_NOT_CONNECTED,
        C.UPSTREAM_AUTH_FAILED,
        C.APP_NOT_AUTHORIZED,
        C.UPSTREAM_REJECTED,
        C.CREDENTIALS_UNAVAILABLE,
        C.DATABASE_UNAVAILABLE,
        C.INTERNAL_ERROR,
    ),
}
OUTCOME_OF: dict[Code, Outcome] = {code: outcome for outcome, codes in _BY_OUTCOME.items() for code in codes}

# Codes any tool can answer: arguments its model refuses, and the office system or this server failing.
EVERY_TOOL = frozenset({code for code in _BY_OUTCOME["unavailable"] if code != C.WRITE_NOT_SENT}) | {
    C.INVALID_ARGUMENTS
}
ADAPTER = frozenset({C.UNKNOWN_TOOL, C.TOO_MANY_CALLS, C.INVALID_ARGUMENTS})  # app/toolcalls.py's own answers
IDENTITY = frozenset({C.IDENTITY_MISMATCH, C.TOO_MANY_ATTEMPTS})  # tools behind the identity check
ONCE = frozenset({C.DUPLICATE_IN_PROGRESS, C.WRITE_NOT_SENT})  # writes that run once per call (tools/idempotency.py)
SLOT_CHECKS = frozenset({C.TIME_IN_PAST, C.TOO_SOON, C.CLOSED, C.SLOT_TAKEN})  # a new time, before it is written
OWNED = frozenset({C.APPOINTMENT_NOT_FOUND, C.ALREADY_CANCELLED})  # the verified patient's, not cancelled

OWN_CODES: dict[str, frozenset[Code]] = {
    "searchPatients": IDENTITY | {C.NAME_OR_PHONE_NEEDED, C.NO_MATCH, C.TOO_MANY_MATCHES, C.PATIENTS_FOUND},
    "getPatientInfo": IDENTITY | {C.PATIENT_VERIFIED},
    "createPatient": ONCE
    | {C.REGISTRATION_PENDING, C.REGISTRATION_RECORDED_FOR_STAFF, C.PATIENT_CREATED, C.REGISTRATION_FAILED},
    "updatePatient": IDENTITY | ONCE | {C.RECORDED_FOR_STAFF, C.UPDATE_PENDING, C.PATIENT_UPDATED, C.CONSENTS_RECORDED},
    "checkAvailability": frozenset(
        {
            C.UNKNOWN_PROVIDER,
            C.UNKNOWN_PROVIDER_NAME,
            C.AMBIGUOUS_PROVIDER,
            C.DATE_IN_PAST,
            C.SLOTS_FOUND,
            C.NO_OPENINGS,
            C.OFFICE_CLOSED,
            C.DAY_FULL,
        }
    ),
    "bookAppointment": IDENTITY
    | ONCE
    | SLOT_CHECKS
    | {C.BOOKING_RECORDED_FOR_STAFF, C.BOOKING_FAILED, C.APPOINTMENT_BOOKED, C.BOOKED_PENDING},
    "rescheduleAppointment": IDENTITY
    | ONCE
    | OWNED
    | SLOT_CHECKS
    | {
        C.RESCHEDULE_RECORDED_FOR_STAFF,
        C.ALREADY_AT_THAT_TIME,
        C.RESCHEDULE_FAILED,
        C.APPOINTMENT_MOVED,
        C.MOVED_PENDING,
    },
    "cancelAppointment": IDENTITY
    | ONCE
    | OWNED
    | {C.CANCEL_RECORDED_FOR_STAFF, C.APPOINTMENT_CANCELLED, C.CANCEL_PENDING, C.CANCEL_FAILED},
    "getPracticeInfo": frozenset({C.PRACTICE_INFO}),
    "getProviders": frozenset({C.NO_PROVIDERS, C.PROVIDERS_FOUND}),
    "checkInsuranceAccepted": frozenset(
        {C.CARRIER_NAME_NEEDED, C.NO_CARRIER_LIST, C.CARRIER_ACCEPTED, C.CARRIER_NOT_LISTED}
    ),
    "getPatientBalance": IDENTITY | {C.BALANCE_NOT_FOUND, C.NO_BALANCE, C.CREDIT_BALANCE, C.BALANCE_FOUND},
    "getPatientInsurance": IDENTITY
    | {C.NO_INSURANCE_ON_FILE, C.INSURANCE_ON_FILE, C.COVERAGE_NOT_LISTED, C.COVERAGE_LISTED},
    "takeMessage": IDENTITY | ONCE | {C.CALLBACK_NUMBER_NEEDED, C.MESSAGE_TAKEN},
}


def codes_of(tool: str) -> frozenset[Code]:
    """Every code `tool` can answer (its own and any tool's), the enum of its output schema's `code`."""
    return EVERY_TOOL | OWN_CODES[tool]
