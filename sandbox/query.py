"""Query parameters of list endpoints: exact filters, RQL `find=`, page-index paging and field selection."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sandbox.envelopes import Record, invalid

Predicate = Callable[[Mapping[str, str]], bool]
Filter = Callable[[str], Predicate]
"""Turns a query parameter's value into a predicate over records."""

DEFAULT_LIMIT = 50
MAX_LIMIT = 5000

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq_": operator.eq,
    "neq_": operator.ne,
    "gte_": operator.ge,
    "gt_": operator.gt,
    "lte_": operator.le,
    "lt_": operator.lt,
}


def digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def exact(field: str) -> Filter:
    """Equal to the value, case-insensitively."""

    def make(value: str) -> Predicate:
        wanted = value.casefold()
        return lambda record: record[field].casefold() == wanted

    return make


def phone(*fields: str) -> Filter:
    """Any of `fields` holds the same number (inferred: digits are compared, formatting is ignored)."""

    def make(value: str) -> Predicate:
        wanted = digits(value)
        return lambda record: any(digits(record[field]) == wanted for field in fields if record[field])

    return make


def on_or_after(field: str) -> Filter:
    """`startdate=yyyy-mm-dd`: the record's date is that day or later."""
    return _date_bound(field, operator.ge)


def on_or_before(field: str) -> Filter:
    """`enddate=yyyy-mm-dd`: the record's date is that day or earlier."""
    return _date_bound(field, operator.le)


def search(text_fields: Sequence[str], phone_fields: Sequence[str]) -> Filter:
    """Free text: a case-insensitive substring of a text field, or (with 3+ digits) of a phone number."""

    def make(value: str) -> Predicate:
        needle, number = value.casefold().strip(), digits(value)

        def matches(record: Mapping[str, str]) -> bool:
            if any(needle in record[field].casefold() for field in text_fields):
                return True
            return len(number) >= 3 and any(number in digits(record[field]) for field in phone_fields)

        return matches

    return make


def parse_find(expression: str) -> Predicate:
    """RQL `find=`: `field=op_value` clauses joined by `::AND::` (binding tighter) and `::OR::`."""
    groups = [[_clause(clause) for clause in group.split("::AND::")] for group in expression.split("::OR::")]
    return lambda record: any(all(clause(record) for clause in group) for group in groups)


def apply_filters(
    records: Iterable[Mapping[str, str]], params: Mapping[str, str], filters: Mapping[str, Filter]
) -> list[Mapping[str, str]]:
    """The records matching every filter present in `params` and the `find=` expression."""
    predicates = [make(params[name]) for name, make in filters.items() if params.get(name, "")]
    if params.get("find", ""):
        predicates.append(parse_find(params["find"]))
    return [record for record in records if all(predicate(record) for predicate in predicates)]


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    """`(limit, offset)`; `offset` is a page index (limit=500&offset=1 is rows 501-1000)."""
    limit = _integer(params, "limit", DEFAULT_LIMIT)
    offset = _integer(params, "offset", 0)
    if limit < 1:
        raise invalid("limit must be a positive integer.")
    return min(limit, MAX_LIMIT), offset


def project(records: Iterable[Mapping[str, str]], keys: Sequence[str]) -> list[Record]:
    return [{key: record[key] for key in keys} for record in records]


def _clause(clause: str) -> Predicate:
    field, _, condition = clause.partition("=")
    if condition.startswith("like_"):
        pattern = _like(condition.removeprefix("like_"))
        return lambda record: pattern.fullmatch(record.get(field, "")) is not None
    prefix = next((prefix for prefix in _OPERATORS if condition.startswith(prefix)), None)
    if prefix is None:
        raise invalid(f"Invalid find clause: {clause}")
    compare, operand = _OPERATORS[prefix], condition.removeprefix(prefix)
    return lambda record: compare(*_comparable(record.get(field, ""), operand))


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%` any run, `_` one character), case-insensitive."""
    translated = "".join(".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern)
    return re.compile(translated, re.IGNORECASE | re.DOTALL)


def _comparable(value: str, operand: str) -> tuple[Any, Any]:
    """Dates compare on their date part, numbers as numbers, anything else case-insensitively."""
    if _DATE.fullmatch(operand):
        return value[:10], operand
    try:
        return float(value), float(operand)
    except ValueError:
        return value.casefold(), operand.casefold()


def _date_bound(field: str, compare: Callable[[str, str], bool]) -> Filter:
    def make(value: str) -> Predicate:
        if not _DATE.fullmatch(value):
            raise invalid(f"Dates must be yyyy-mm-dd: {value}")
        return lambda record: compare(record[field][:10], value)

    return make


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise invalid(f"{name} must be a non-negative integer.")
    return int(value)
