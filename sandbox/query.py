"""Query parameters of list endpoints: exact filters, RQL `find=`, page-index paging and field selection.

- Exact filters compare case-insensitively: the PMS databases behind Sikka (SQL Server, MySQL, ...)
  compare text case-insensitively by default. `verbatim` filters compare character for character: phone
  numbers (no normalisation: "408-555-0101" does not match "(408) 555-0101", §23.5) and the few values
  whose case the docs leave open and the sandbox reads strictly (writeback_details `category`, §19).
- RQL `find=` (§6; its open points are §23.4, each read the least convenient way): `like_` means "starts
  with", compared case-sensitively, with `%` and `_` as literal characters (no wildcards); `eq_`, `neq_`,
  `gt_`, `gte_`, `lt_`, `lte_` compare dates on their date part, numbers as numbers and text
  case-insensitively; `::AND::` and `::OR::` are evaluated strictly left to right with no precedence
  (`a::OR::b::AND::c` is `(a OR b) AND c`).
- A parameter the sandbox does not implement is ignored, so the rows come back unfiltered.
"""

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
_JOINS = re.compile(r"(::AND::|::OR::)")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq_": operator.eq,
    "neq_": operator.ne,
    "gte_": operator.ge,
    "gt_": operator.gt,
    "lte_": operator.le,
    "lt_": operator.lt,
}


def exact(field: str) -> Filter:
    """Equal to the value, case-insensitively."""

    def make(value: str) -> Predicate:
        wanted = value.casefold()
        return lambda record: record[field].casefold() == wanted

    return make


def verbatim(field: str) -> Filter:
    """Equal to the value character for character."""
    return lambda value: lambda record: record[field] == value


def on_or_after(field: str) -> Filter:
    """`startdate=yyyy-mm-dd`: the record's date is that day or later."""
    return _date_bound(field, operator.ge)


def on_or_before(field: str) -> Filter:
    """`enddate=yyyy-mm-dd`: the record's date is that day or earlier."""
    return _date_bound(field, operator.le)


def on_day(field: str) -> Filter:
    """`first_visit=yyyy-mm-dd`: the record's date is that day."""
    return _date_bound(field, operator.eq)


def search(fields: Sequence[str]) -> Filter:
    """One term equal to the whole value of any of `fields`, case-insensitively (§23.5: partial or exact is
    undocumented; exact is the least convenient reading)."""

    def make(value: str) -> Predicate:
        wanted = value.casefold()
        return lambda record: any(record[field].casefold() == wanted for field in fields)

    return make


def parse_find(expression: str) -> Predicate:
    """RQL `find=`: `field=op_value` clauses joined by `::AND::`/`::OR::`, evaluated left to right."""
    first, *rest = _JOINS.split(expression)
    predicate = _clause(first)
    for join, clause in zip(rest[::2], rest[1::2], strict=True):
        predicate = _join(predicate, join, _clause(clause))
    return predicate


def _join(left: Predicate, join: str, right: Predicate) -> Predicate:
    if join == "::AND::":
        return lambda record: left(record) and right(record)
    return lambda record: left(record) or right(record)


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
        start = condition.removeprefix("like_")
        return lambda record: record.get(field, "").startswith(start)
    prefix = next((prefix for prefix in _OPERATORS if condition.startswith(prefix)), None)
    if prefix is None:
        raise invalid(f"Invalid find clause: {clause}")
    compare, operand = _OPERATORS[prefix], condition.removeprefix(prefix)
    return lambda record: compare(*_comparable(record.get(field, ""), operand))


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
