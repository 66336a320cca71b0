"""Read the Terraform root module in terraform/ with python-hcl2, into plain Python values.

python-hcl2 (v5+) keeps the quotes of string literals ('"aws"') and wraps expressions as '${...}', marks
blocks with '__is_block__' and may add comment/line keys. `clean` turns all of that into plain values: string
literals lose their quotes, expressions stay '${...}', metadata keys are dropped. Older versions that already
return unquoted strings come out the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"

_METADATA_KEYS = frozenset({"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"})
_REFERENCE = re.compile(r"\$\{(var|local)\.([A-Za-z0-9_]+)\}")

Statement = dict[str, Any]


def unquote(text: str) -> str:
    """'"abc"' -> 'abc' (with \\" and \\\\ unescaped); anything else is returned unchanged."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def clean(value: Any) -> Any:
    """Strip python-hcl2's quoting and metadata, recursively."""
    if isinstance(value, dict):
        return {unquote(str(k)): clean(v) for k, v in value.items() if k not in _METADATA_KEYS}
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, str):
        return unquote(value)
    return value


def parse_file(path: Path) -> dict[str, Any]:
    """Parse one .tf file; raises on a syntax error."""
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = clean(hcl2.load(handle))
    return parsed


def parse_errors(directory: Path) -> dict[str, str]:
    """File name -> error for every .tf file in `directory` that does not parse (empty when all parse)."""
    errors: dict[str, str] = {}
    for path in sorted(directory.glob("*.tf")):
        try:
            parse_file(path)
        except Exception as exc:  # python-hcl2 raises lark's exception family; any failure is a parse failure
            errors[path.name] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
    return errors


def blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block is a list of dicts (one per occurrence); tolerate a single dict or absence."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return list(value)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Module:
    """Every top-level block of the root module, keyed the way Terraform addresses them."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        assert (type_, name) in self.resources, f"terraform/ has no resource {type_}.{name}"
        return self.resources[(type_, name)]

    def resources_of(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == type_}

    def policy_document(self, name: str) -> dict[str, Any]:
        assert ("aws_iam_policy_document", name) in self.data, f"no data.aws_iam_policy_document.{name}"
        return self.data[("aws_iam_policy_document", name)]

    def default(self, variable: str) -> Any:
        assert variable in self.variables, f"no variable {variable!r}"
        return self.variables[variable].get("default")

    def render(self, text: str) -> str:
        """Substitute ${var.x} (its default) and ${local.y} (if a plain string), repeatedly; keep the rest."""

        def substitute(match: re.Match[str]) -> str:
            kind, name = match.groups()
            value = self.default(name) if kind == "var" else self.locals.get(name)
            return value if isinstance(value, str) else match.group(0)

        for _ in range(10):
            rendered = _REFERENCE.sub(substitute, text)
            if rendered == text:
                break
            text = rendered
        return text


def load_module(directory: Path = TERRAFORM_DIR) -> Module:
    module = Module()
    for path in sorted(directory.glob("*.tf")):
        parsed = parse_file(path)
        for entry in blocks(parsed.get("resource")):
            for type_, named in entry.items():
                for name, body in named.items():
                    module.resources[(type_, name)] = body
        for entry in blocks(parsed.get("data")):
            for type_, named in entry.items():
                for name, body in named.items():
                    module.data[(type_, name)] = body
        for entry in blocks(parsed.get("variable")):
            module.variables.update(entry)
        for entry in blocks(parsed.get("output")):
            module.outputs.update(entry)
        for entry in blocks(parsed.get("locals")):
            module.locals.update(entry)
        module.terraform.extend(blocks(parsed.get("terraform")))
    return module


def one(items: Any) -> dict[str, Any]:
    """The single block of a nested block list."""
    found = blocks(items)
    assert len(found) == 1, f"expected exactly one block, got {len(found)}"
    return found[0]


def statements(document: dict[str, Any]) -> list[Statement]:
    return blocks(document.get("statement"))


def conditions(statement: Statement) -> dict[str, list[str]]:
    """Condition variable -> allowed values (test operators are checked separately where they matter)."""
    return {cond["variable"]: as_list(cond["values"]) for cond in blocks(statement.get("condition"))}


def actions(statement: Statement) -> list[str]:
    return [str(action) for action in as_list(statement.get("actions"))]


def resources(statement: Statement) -> list[str]:
    return [str(resource) for resource in as_list(statement.get("resources"))]


def principals(statement: Statement) -> Iterator[tuple[str, str]]:
    for principal in blocks(statement.get("principals")):
        for identifier in as_list(principal["identifiers"]):
            yield principal["type"], str(identifier)


def reference_name(expression: str, prefix: str) -> str:
    """'${data.aws_iam_policy_document.task.json}' with prefix 'data.aws_iam_policy_document.' -> 'task'."""
    match = re.fullmatch(r"\$\{" + re.escape(prefix) + r"([A-Za-z0-9_-]+)\.[a-z_]+\}", expression)
    assert match, f"{expression!r} is not a reference to {prefix}<name>.<attribute>"
    return match.group(1)
