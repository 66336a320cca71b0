from __future__ import annotations

import io
import json
import logging
from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from server.logs import REDACTED, get_logger, redact_text


def lines(stream: io.StringIO, *loggers: str) -> list[dict[str, object]]:
    """The captured events of these loggers: only they are this test's (the capture is process-wide)."""
    events = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [event for event in events if event["logger"] in loggers]


def test_structlog_events_are_json_with_sensitive_keys_redacted(captured_logs: io.StringIO) -> None:
    get_logger("test").info(
        "patient looked up",
        account_id="acc1",
        first_name="Zebulon",
        phone="+14085550101",
        secret_key="sk-123",
        request_key="rk-456",
        headers={"Authorization": "Bearer abc", "Accept": "json"},
    )
    (event,) = lines(captured_logs, "test")
    assert event["event"] == "patient looked up"
    assert event["account_id"] == "acc1"
    for key in ("first_name", "phone", "secret_key", "request_key"):
        assert event[key] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert event["level"] == "info"


def test_foreign_loggers_are_redacted_by_pattern(captured_logs: io.StringIO) -> None:
    for name in ("mcp.server", "uvicorn.error", "some.library"):
        logging.getLogger(name).warning(
            "call from %s about %s born %s, Authorization: Bearer tok_abcdefghijklmnopqrstuvwxyz0123456789",
            "(408) 555-0101",
            "zeb@example.com",
            "1984-12-10",
        )
    events = lines(captured_logs, "mcp.server", "uvicorn.error", "some.library")
    assert len(events) == 3
    text = captured_logs.getvalue()
    for canary in ("555-0101", "zeb@example.com", "1984-12-10", "tok_abcdefghijklmnopqrstuvwxyz0123456789"):
        assert canary not in text


@pytest.mark.parametrize(
    "value",
    [
        "+1 408 555 0101",
        "408.555.0101",
        "4085550101",
        "https://api.sikkasoft.com/v4/patients?firstname=Zebulon&cell=4085550101",
        "request_key=4d74aaa0011223344556677889900aabb",
        '"secret_key": "abc123"',
        "01/02/1984",
    ],
)
def test_patterns(value: str) -> None:
    redacted = redact_text(f"x {value} y")
    assert REDACTED in redacted
    for fragment in ("Zebulon", "0101", "abc123", "1984", "4d74aaa0011223344556677889900aabb"):
        assert fragment not in redacted


def test_exceptions_are_redacted(captured_logs: io.StringIO) -> None:
    try:
        raise ValueError("bad phone 408-555-0101")
    except ValueError:
        get_logger("test").exception("failed")
    assert "408-555-0101" not in captured_logs.getvalue()
    assert "ValueError" in captured_logs.getvalue()


class Caller(BaseModel):
    name: str
    phone: int
    dateOfBirth: date


def validation_error() -> ValidationError:
    try:
        Caller.model_validate({"name": 7, "phone": "Zebulonia Quackenbushe", "dateOfBirth": "13/07/1961x"})
    except ValidationError as exc:
        return exc
    raise AssertionError("the model accepted bad input")


EXCEPTION_CANARIES = ("Zebulonia", "Quackenbushe", "13/07/1961", "Philomenax")


def test_validation_errors_and_exception_texts_are_redacted_at_debug(captured_logs: io.StringIO) -> None:
    error = validation_error()
    ours, foreign = get_logger("test"), logging.getLogger("mcp.server.lowlevel")
    ours.debug("invalid arguments", detail=str(error), errors=repr(error.errors()))
    ours.debug(f"Error validating request: {error}")
    foreign.debug("Error validating request: %s", error)
    logging.getLogger("mcp.server.mcpserver.server").info("Tool '%s' failed: 'Unknown tool'", "Philomenax")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:9", "POST", "/mcp", "1.1", 200)
    for raised in (error, KeyError("Philomenax"), ValueError("no patient 'Zebulonia Quackenbushe' born 13/07/1961x")):
        try:
            raise raised
        except Exception:
            ours.exception("tool failed")
            foreign.exception("Exception in ASGI application")
    text = captured_logs.getvalue()
    loggers = ("test", "mcp.server.lowlevel", "mcp.server.mcpserver.server", "uvicorn.access")
    assert len(lines(captured_logs, *loggers)) == 11
    for canary in EXCEPTION_CANARIES:
        assert canary not in text, canary
    assert "validation errors for Caller" in text  # still useful: which model, which fields, which checks
    assert "int_parsing" in text
    assert "KeyError" in text
    assert 'test_logs.py\\", line' in text  # traceback locations are kept
    assert '\\"POST /mcp HTTP/1.1\\" 200' in text  # the access log's request line is not a value
