from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import WEBHOOK_SECRET, signed_webhook
from webhook.signature import SignatureInvalid, verify

BODY = b'{"event":"app.authorized"}'


def test_a_standard_webhooks_signature_is_accepted() -> None:
    body, headers = signed_webhook(BODY, webhook_id="msg_1")
    assert verify(headers, body, WEBHOOK_SECRET, accept_callback_key=False) == "msg_1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, "webhook-signature": "v1,AAAA"},
        lambda h: {**h, "webhook-signature": "garbage"},
        lambda h: {**h, "webhook-signature": "v1,!!!notbase64"},
        lambda h: {**h, "webhook-timestamp": "yesterday"},
        lambda h: {k: v for k, v in h.items() if k != "webhook-id"},
    ],
)
def test_malformed_or_wrong_signatures_are_refused(tamper: Callable[[dict[str, str]], dict[str, str]]) -> None:
    body, headers = signed_webhook(BODY)
    with pytest.raises(SignatureInvalid):
        verify(tamper(headers), body, WEBHOOK_SECRET, accept_callback_key=False)


def test_another_body_or_a_stale_timestamp_is_refused() -> None:
    _, headers = signed_webhook(BODY)
    with pytest.raises(SignatureInvalid):
        verify(headers, BODY + b" ", WEBHOOK_SECRET, accept_callback_key=False)
    body, stale = signed_webhook(BODY, at=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(SignatureInvalid):
        verify(stale, body, WEBHOOK_SECRET, accept_callback_key=False)


def test_callback_key_only_when_enabled_and_equal() -> None:
    headers = {"callback-key": WEBHOOK_SECRET}
    assert verify(headers, BODY, WEBHOOK_SECRET, accept_callback_key=True).startswith("body-")
    with pytest.raises(SignatureInvalid):
        verify(headers, BODY, WEBHOOK_SECRET, accept_callback_key=False)
    with pytest.raises(SignatureInvalid):
        verify({"callback-key": "wrong"}, BODY, WEBHOOK_SECRET, accept_callback_key=True)


def test_no_secret_configured_refuses_everything() -> None:
    body, headers = signed_webhook(BODY)
    with pytest.raises(SignatureInvalid):
        verify(headers, body, "", accept_callback_key=True)
