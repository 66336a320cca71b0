"""Structured JSON logs on stderr, with PHI and secrets redacted for every logger.

`configure_logging` must run before the MCP SDK is imported or constructed: `MCPServer()` calls
`logging.basicConfig`, which is a no-op only once the root logger has our handler.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

REDACTED = "[redacted]"

# Keys whose values are never logged, matched on the key with separators removed, lower-cased.
# A key is sensitive when it contains one of these fragments ("patient_name", "homephone", ...).
SENSITIVE_KEY_FRAGMENTS = (
    "name",
    "phone",
    "cell",
    "email",
    "birth",
    "dob",
    "address",
    "city",
    "zip",
    "secret",
    "requestkey",
    "refreshkey",
    "appkey",
    "apikey",
    "authorization",
    "token",
    "password",
    "note",
    "ssn",
    "body",
    "payload",
    "arguments",
    "street",
    "line1",
    "line2",
    "postal",
    "consent",
    "input",  # pydantic's `input_value=...` and `'input': ...`: the value that failed validation
)
# Keys this service fills with its own identifiers or plumbing: never masked by key or pattern.
TRUSTED_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "account_id",
        "integration_id",
        "token_id",
        "audit_id",
        "duration_ms",
        "status",
        "status_code",
        "attempt",
        "tool",
        "outcome",
        "code",
        "error_code",
        "endpoint",
        "method",
        "writeback_id",
    }
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # Sikka credentials and our tokens written as key=value or "key": "value".
    (
        re.compile(
            r"(?i)(request[_-]?key|refresh[_-]?key|secret[_-]?key|app[_-]?key|token|password)"
            r"(\"?\s*[:=]\s*\"?)[^\s\"&,}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # URL query strings carry search terms (names, phones, birthdates).
    (re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*"), r"\1?" + REDACTED),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), REDACTED),
    # Dates (dates of birth): 1984-12-10, 12/10/1984, 1984/12/10, also glued to other text ("12/10/1984x").
    (re.compile(r"(?<!\d)(?:\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}[-/]\d{1,2}[-/]\d{2,4})(?:T[\d:.]+)?(?!\d)"), REDACTED),
    # Phone numbers in any common format, with or without country code.
    (re.compile(r"(?<![\w])\+?(?:\d[\s.()-]*){10,15}(?![\w])"), REDACTED),
    # Long opaque strings: API keys, request keys, practice tokens.
    (re.compile(r"\b[A-Za-z0-9_-]{32,}\b"), REDACTED),
)


def _is_sensitive_key(key: str) -> bool:
    squashed = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(fragment in squashed for fragment in SENSITIVE_KEY_FRAGMENTS)


# `key: value`, `"key": value`, `key=value` inside free text (reprs of dicts and models, JSON, query strings).
_KEY_VALUE = re.compile(r"""(?P<quote>['"]?)(?P<key>[A-Za-z_][\w.-]{0,63})(?P=quote)\s*[:=]\s*""")
_CLOSERS = {"{": "}", "[": "]", "(": ")"}
_BARE_END = re.compile(r"[\s,;&)\]}]")


def _value_end(text: str, start: int) -> int:
    """Where the value starting at `start` ends: a quoted string, a bracketed structure, or a bare word."""
    if start >= len(text):
        return start
    if text[start] in "'\"":
        return _quoted_end(text, start)
    if text[start] in _CLOSERS:
        return _bracketed_end(text, start)
    match = _BARE_END.search(text, start)
    return match.start() if match else len(text)


def _quoted_end(text: str, start: int) -> int:
    opening, index = text[start], start + 1
    while index < len(text) and text[index] != opening:
        index += 2 if text[index] == "\\" else 1
    return min(index + 1, len(text))


def _bracketed_end(text: str, start: int) -> int:
    depth, index, quote = 0, start, ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in _CLOSERS:
            depth += 1
        elif char in _CLOSERS.values():
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def _mask_sensitive_values(text: str) -> str:
    pieces, position = [], 0
    while (match := _KEY_VALUE.search(text, position)) is not None:
        if not _is_sensitive_key(match.group("key")):
            pieces.append(text[position : match.end()])
            position = match.end()
            continue
        pieces.append(text[position : match.end()] + REDACTED)
        position = max(_value_end(text, match.end()), match.end())
    pieces.append(text[position:])
    return "".join(pieces)


def redact_text(text: str) -> str:
    """Mask sensitive `key: value` pairs, then phones, emails, dates, bearer tokens, keys and query strings."""
    text = _mask_sensitive_values(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# A quoted literal: libraries quote the values they echo or reject (`Tool 'x' failed`, `KeyError('x')`).
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_TRACEBACK_FILE_LINE = re.compile(r'^\s*File "[^"\n]*", line \d+')
# Loggers whose quoted text is not a value: the access log quotes the request line (its query string is masked).
QUOTES_KEPT_FOR = frozenset({"uvicorn.access"})


def mask_quoted(text: str) -> str:
    return _QUOTED.sub(f"'{REDACTED}'", text)


def redact_message(text: str, logger: str) -> str:
    """A log message: redacted like any text, and quoted literals masked (except the access log's)."""
    text = redact_text(text)
    return text if logger in QUOTES_KEPT_FOR else mask_quoted(text)


def redact_exception(text: str) -> str:
    """A formatted traceback: redacted like any text, and quoted literals masked except in its
    `File "...", line N` lines (exception messages quote the values they reject)."""
    lines = redact_text(text).split("\n")
    return "\n".join(line if _TRACEBACK_FILE_LINE.match(line) else mask_quoted(line) for line in lines)


def redact_value(key: str, value: Any) -> Any:
    if key in TRUSTED_KEYS:
        return value
    if _is_sensitive_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(key, item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(repr(value))


def redact_event(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last step before rendering, for structlog and stdlib records alike."""
    redacted: MutableMapping[str, Any] = {}
    for key, value in event_dict.items():
        if key == "event":
            redacted[key] = redact_message(str(value), str(event_dict.get("logger", "")))
        elif key == "exception" and isinstance(value, str):  # format_exc_info's traceback
            redacted[key] = redact_exception(value)
        else:
            redacted[key] = redact_value(key, value)
    return dict(redacted)


# Log lines that say nothing, by logger: the MCP SDK logs "Terminating session: None" at INFO after every
# stateless request (an SDK habit we cannot change from outside, so it is filtered here).
NOISE: dict[str, tuple[str, ...]] = {"mcp.server.streamable_http": ("Terminating session",)}


class DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        prefixes = NOISE.get(record.name)
        return prefixes is None or not str(record.msg).startswith(prefixes)


def _drop_color_message(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn duplicates its message with ANSI codes
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, the MCP SDK's, uvicorn's, httpx's) through one redacting JSON handler."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(DropNoise())

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "mcp"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Request lines from httpx repeat what our gateway logs, with query strings; keep them at WARNING.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, logging.getLevelName(level)))

    structlog.configure(
        # filter_by_level first: a disabled level costs one check, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
