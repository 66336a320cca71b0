"""Notify URLs and signed deliveries: only https (or loopback http) URLs without credentials; each attempt is a
Standard Webhooks signature over the exact body, with the message id as webhook-id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from server.inbox import Item, StaffNote
from server.notify import Endpoint, check_notify_url, new_secret, signed_request


@pytest.mark.parametrize(
    "url",
    ["https://practice.example.com/hooks/parlae", "http://127.0.0.1:8123/hook", "http://localhost/hook"],
)
def test_accepted_urls(url: str) -> None:
    assert check_notify_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://practice.example.com/hook", "https://"),
        ("ftp://practice.example.com/hook", "https://"),
        ("https://user:pass@practice.example.com/hook", "credentials"),
        ("https://practice.example.com/hook#part", "credentials"),
        ("practice.example.com/hook", "absolute"),
        ("https://practice.example.com/" + "a" * 2048, "absolute"),
    ],
)
def test_refused_urls_say_why_without_repeating_them(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        check_notify_url(url)
    assert "example" not in str(refused.value)


def message() -> Item:
    note = StaffNote("Question about my bill", caller_name="Jo Doe", callback_number="+12125550199", patient_id="7")
    created = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    return Item("m1", "acct", "message", "soon", "call-1", created, None, note)


def test_a_signed_request_verifies_with_the_practices_secret_only() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body, headers = signed_request(Endpoint("https://x.example", secret), message(), datetime.now(UTC))
    assert headers["webhook-id"] == "m1"
    assert headers["content-type"] == "application/json"
    assert Webhook(secret).verify(body, headers)["data"] == {
        "messageId": "m1",
        "accountId": "acct",
        "kind": "message",
        "createdAt": "2026-12-07T15:00:00+00:00",
        "urgency": "soon",
        "callId": "call-1",
        "reason": "Question about my bill",
        "callerName": "Jo Doe",
        "callbackNumber": "+12125550199",
        "patientId": "7",
        "request": None,
        "sikkaSaid": None,
        "reference": None,
        "details": None,
    }
    assert json.loads(body)["type"] == "staff_message.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"Jo Doe", b"Jo Dee"), headers)
