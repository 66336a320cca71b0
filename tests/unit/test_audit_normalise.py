"""Audit values a caller controls are made insertable before they join a batch; the chain hash of records
written before the `ip_invalid` flag existed does not change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from server.audit import chain
from server.audit.normalise import TEXT_LIMITS, client_ip, normalised


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (None, False)),
        ("127.0.0.1", ("127.0.0.1", False)),
        (" 203.0.113.9 ", ("203.0.113.9", False)),
        ("2001:DB8:0:0::1", ("2001:db8::1", False)),
        ("fe80::1%eth0", ("fe80::1%eth0", False)),
        ("::ffff:192.0.2.1", ("::ffff:c000:201", False)),
        ("", (None, True)),
        ("unknown", (None, True)),
        ("203.0.113.9:443", (None, True)),
        ("256.1.1.1", (None, True)),
        ("010.1.1.1", (None, True)),
        ("9" * 5000, (None, True)),
        ("fe80::1%" + "e" * 80, (None, True)),
        ("1.2.3.4\x00", (None, True)),
    ],
)
def test_client_ip(value: str | None, expected: tuple[str | None, bool]) -> None:
    assert client_ip(value) == expected


def record(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "account_id": "acc_golden",
        "seq": 7,
        "recorded_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "integration_id": "int1",
        "action": "getPatientInfo",
        "crud": "R",
        "endpoint": "patients",
        "method": "GET",
        "actor": "tok_abc",
        "vapi_call_id": "call-1",
        "ip_address": "203.0.113.9",
        "request_summary": "verified identity",
        "response_status": 200,
        "response_time_ms": 42,
        "phi_accessed": True,
        "phi_fields": ["dateOfBirth", "name"],
        "patient_ref": "1001",
        "outcome": "success",
        "error_code": None,
        "prev_hash": "ab" * 32,
    }
    fields.update(overrides)
    return fields


def test_text_fits_its_column_without_nuls_or_unencodable_characters() -> None:
    clean = normalised(
        record(
            vapi_call_id="c" * 1000,
            request_summary="office \x00 D1 \ud800 practice",
            method="GET," * 100,
            patient_ref="1" * 10_000,
        )
    )
    assert len(clean["vapi_call_id"]) == TEXT_LIMITS["vapi_call_id"] == 128
    assert len(clean["method"]) == TEXT_LIMITS["method"]
    assert clean["request_summary"] == "office \ufffd D1 ? practice"
    assert clean["request_summary"].encode("utf-8")
    assert len(clean["patient_ref"]) == 10_000  # a Text column: no limit
    assert (clean["ip_address"], clean["ip_invalid"]) == ("203.0.113.9", False)


def test_normalising_is_idempotent_and_keeps_the_flag() -> None:
    once = normalised(record(ip_address="x" * 300))
    assert (once["ip_address"], once["ip_invalid"]) == (None, True)
    assert normalised(once) == once


def test_records_without_the_flag_hash_as_before() -> None:
    """The hash computed for this record by the chain before `ip_invalid` existed (commit 270930a)."""
    golden = "a20824b7c3fc2414cb7da7c9fae0f86039ed6e4f09e7f73594b2b21f9238adbd"
    assert chain.link_hash("ab" * 32, record()) == golden
    assert chain.link_hash("ab" * 32, record(ip_invalid=False)) == golden
    flagged = chain.link_hash("ab" * 32, record(ip_address=None, ip_invalid=True))
    assert flagged != chain.link_hash("ab" * 32, record(ip_address=None, ip_invalid=False))
