"""tests/outcome_codes.py stays the complete list of outcome codes: every code the tools' source constructs is
listed, and every listed code is one the source constructs. The source is read as Python (ast): a literal
`code="..."`, a `(code, sentence)` pair of literals, a default `code`/`reason` parameter, and the codes of the
shared tables (upstream failures, identity refusals, failed writes); an f-string code (`f"appointment_{verb}"`)
is a pattern the listed codes must match. Which tool answers which code is checked on every answer the tests
receive (`tests.support.call`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.outcome_codes import CODES, EVERY_TOOL, UNREACHABLE
from tools import ALL_TOOLS
from tools.appointments import VERBS
from tools.base import CANT_REACH, UNAVAILABLE_MESSAGES
from tools.identity import LOCKED, MISMATCH

TOOLS = Path(__file__).parents[2] / "tools"
CODE = re.compile(r"[a-z]+(_[a-z]+)+")


def pattern(fstring: ast.JoinedStr) -> re.Pattern[str]:
    parts = [re.escape(str(p.value)) if isinstance(p, ast.Constant) else "[a-z]+" for p in fstring.values]
    return re.compile("".join(parts))


def constructed() -> tuple[set[str], list[re.Pattern[str]]]:
    """The literal codes and the f-string code patterns in the tools' source."""
    literals = {code for code, _ in UNAVAILABLE_MESSAGES.values()} | {MISMATCH, LOCKED}
    literals |= {failed for _, failed in VERBS.values()}
    patterns = []
    for path in TOOLS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "code":
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    literals.add(node.value.value)
                elif isinstance(node.value, ast.JoinedStr):
                    patterns.append(pattern(node.value))
            elif isinstance(node, (ast.Return, ast.Assign)) and isinstance(node.value, ast.Tuple):
                first = node.value.elts[0] if len(node.value.elts) == 2 else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and CODE.fullmatch(first.value):
                    literals.add(first.value)  # (code, sentence)
            elif isinstance(node, ast.FunctionDef):  # a default code: `reason: str = "slot_taken"`
                named = zip(reversed(node.args.args), reversed(node.args.defaults), strict=False)
                literals.update(
                    str(d.value) for a, d in named if a.arg in ("code", "reason") and isinstance(d, ast.Constant)
                )
    return literals, patterns


def test_every_tool_is_listed() -> None:
    assert set(CODES) == {tool.name for tool in ALL_TOOLS}


def test_every_code_the_tools_construct_is_listed_and_every_listed_code_is_constructed() -> None:
    literals, patterns = constructed()
    listed = {code for codes in CODES.values() for code in codes}
    assert literals - listed == set(), "add these codes to tests/outcome_codes.py, under the tools that answer them"
    stale = {code for code in listed - literals if not any(p.fullmatch(code) for p in patterns)}
    assert stale == set(), "no tool constructs these codes any more"
    assert all(any(p.fullmatch(code) for code in listed) for p in patterns), "an f-string code with no listed instance"


def test_only_a_failure_to_reach_the_office_is_said_to_be_one() -> None:
    claims = {code for code, message in UNAVAILABLE_MESSAGES.values() if CANT_REACH in message}
    assert claims == UNREACHABLE
    assert set(EVERY_TOOL) >= UNREACHABLE
    for path in TOOLS.glob("*.py"):  # no other sentence of any tool says so
        said = [
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "reach the office" in node.value
        ]
        assert said == ([CANT_REACH] if path.name == "base.py" else []), path.name
