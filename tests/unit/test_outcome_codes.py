"""The registry of outcome codes (tools/codes.py) is the only source of codes: the tools construct `Code`
members, never strings; every code is answered by some tool or the tool-calls adapter and is constructed
somewhere; each tool's output schema lists exactly its codes; docs/vapi.md §4 lists every code under its outcome.
Which tool answers which code is checked on every answer the tests receive (`tests.support.call`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.outcome_codes import EVERY_TOOL, UNREACHABLE
from tools import ALL_TOOLS
from tools.base import CANT_REACH, UNAVAILABLE_MESSAGES
from tools.codes import ADAPTER, OUTCOME_OF, OWN_CODES, Code, codes_of
from tools.results import ToolResult

ROOT = Path(__file__).parents[2]
SOURCES = [*sorted((ROOT / "tools").glob("*.py")), ROOT / "app" / "toolcalls.py"]
BACKTICKED = re.compile(r"`([a-z]+(?:_[a-z]+)*)`")


def used_members() -> set[Code]:
    """The `Code.X` members the source outside the registry names."""
    used = set()
    for path in SOURCES:
        if path.name == "codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Code":
                used.add(Code[node.attr])
    return used


def test_every_tool_is_listed() -> None:
    assert set(OWN_CODES) == {tool.name for tool in ALL_TOOLS}


def test_every_code_has_one_outcome_and_is_answered_and_constructed() -> None:
    assert set(OUTCOME_OF) == set(Code)
    answered = set(ADAPTER).union(*(codes_of(tool) for tool in OWN_CODES))
    assert set(Code) - answered == set(), "no tool answers these codes"
    assert set(Code) - used_members() == set(), "no source constructs these codes any more"


def test_no_tool_writes_a_code_as_a_string() -> None:
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "code":
                assert not isinstance(node.value, ast.Constant | ast.JoinedStr), f"{path.name}: use a Code member"


def test_a_code_takes_its_outcome_and_refuses_another() -> None:
    assert ToolResult(message="x", code=Code.SLOT_TAKEN).outcome == "refused"
    with pytest.raises(ValueError, match="slot_taken is always refused"):
        ToolResult(message="x", outcome="ok", code=Code.SLOT_TAKEN)


@pytest.mark.parametrize("tool", ALL_TOOLS, ids=lambda tool: tool.name)
def test_each_output_schema_lists_the_tools_codes(tool: object) -> None:
    schema = tool.output_schema  # type: ignore[attr-defined]
    assert set(schema["properties"]["code"]["enum"]) == {str(code) for code in codes_of(tool.name)}  # type: ignore[attr-defined]
    assert "Code" not in schema.get("$defs", {})


def vapi_table() -> dict[str, set[str]]:
    """docs/vapi.md §4's table: the codes listed in each outcome's row(s), outside parenthesised remarks."""
    text = (ROOT / "docs" / "vapi.md").read_text()
    section = text.split("## 4. Outcomes and codes")[1].split("\n## ")[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")] if line.startswith("| `") else []
        if cells:
            outcome = BACKTICKED.findall(cells[0])
            codes = re.sub(r"\([^)]*\)", "", cells[1])  # remarks in parentheses name fields, not codes
            rows.setdefault(outcome[0], set()).update(BACKTICKED.findall(codes))
    return rows


def test_the_vapi_guide_lists_every_code_under_its_outcome() -> None:
    table = vapi_table()
    listed = {(code, outcome) for outcome, codes in table.items() for code in codes}
    registry = {(str(code), outcome) for code, outcome in OUTCOME_OF.items()}
    assert registry - listed == set(), "add these codes to docs/vapi.md §4, in their outcome's row"
    assert listed - registry == set(), "docs/vapi.md §4 lists codes the registry does not have (or elsewhere)"


def test_only_a_failure_to_reach_the_office_is_said_to_be_one() -> None:
    claims = {str(code) for code, message in UNAVAILABLE_MESSAGES.values() if CANT_REACH in message}
    assert claims == UNREACHABLE
    assert set(EVERY_TOOL) >= UNREACHABLE
    for path in (ROOT / "tools").glob("*.py"):  # no other sentence of any tool says so
        said = [
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "reach the office" in node.value
        ]
        assert said == ([CANT_REACH] if path.name == "base.py" else []), path.name
