"""The import graph is a strict stack: `app` → `tools`, `webhook` → `server`; `sandbox` stands apart. Tools and
the webhook use the server's packages through their curated surfaces (`server.sikka`, `server.audit`,
`server.phi`, `server.vault`), never their inner modules. Every import counts, function-local ones included."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PRODUCT = ("app", "server", "tools", "webhook", "sandbox")
MAY_IMPORT = {
    "app": {"app", "server", "tools", "webhook", "sandbox"},  # the composition root (demo mode runs the sandbox)
    "tools": {"tools", "server"},
    "webhook": {"webhook", "server"},
    "server": {"server"},
    "sandbox": {"sandbox"},
}
SURFACES = ("server.sikka", "server.audit", "server.phi", "server.vault")


def imports(package: str) -> Iterator[tuple[Path, str]]:
    """(file, imported module) for every import in a package's files."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                yield path, node.module


def top(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", PRODUCT)
def test_each_package_imports_only_what_is_below_it(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}: {module}"
        for path, module in imports(package)
        if top(module) in PRODUCT and top(module) not in MAY_IMPORT[package]
    ]
    assert wrong == [], f"{package} must not import these (the stack is app → tools, webhook → server)"


@pytest.mark.parametrize("package", ["tools", "webhook"])
def test_tools_and_the_webhook_use_the_server_packages_surfaces(package: str) -> None:
    inner = [
        f"{path.relative_to(ROOT)}: {module}"
        for path, module in imports(package)
        if any(module.startswith(f"{surface}.") for surface in SURFACES)
    ]
    assert inner == [], "import these names from the package itself (its __init__ lists them in __all__)"


@pytest.mark.parametrize("surface", SURFACES)
def test_each_surface_exports_a_curated_all(surface: str) -> None:
    module = __import__(surface, fromlist=["__all__"])
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, name) for name in exported)


@pytest.mark.parametrize("package", ["tools", "webhook"])
def test_tools_and_the_webhook_leave_sql_to_the_server(package: str) -> None:
    sql = [
        f"{path.relative_to(ROOT)}: {module}"
        for path, module in imports(package)
        if top(module) == "sqlalchemy" or module == "server.db" or module.startswith("server.db.")
    ]
    assert sql == [], "database access lives in server/ (e.g. server/idempotency.py, server/webhook_events.py)"


def test_no_product_function_is_more_complex_than_ten() -> None:
    """ruff's C901 (McCabe complexity) is on for every product package, at 10 at most, with no exemptions."""
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"C90", "C901"} & set(lint["select"])
    assert lint["mccabe"]["max-complexity"] <= 10
    exempt = [
        pattern
        for pattern, rules in lint.get("per-file-ignores", {}).items()
        if any(rule.startswith("C9") for rule in rules) and pattern.split("/", 1)[0] in PRODUCT
    ]
    assert exempt == []


def clock_reads(package: str) -> Iterator[str]:
    """Calls in a package that read the host's clock (`date.today()`, `datetime.now()`, `utcnow()`) or set a
    zone on a datetime (`.replace(tzinfo=...)`)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            called = node.func.attr
            if called in ("today", "now", "utcnow") and isinstance(node.func.value, ast.Name):
                if node.func.value.id in ("date", "datetime"):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.value.id}.{called}()"
            elif called == "replace" and any(keyword.arg == "tzinfo" for keyword in node.keywords):
                yield f"{path.relative_to(ROOT)}:{node.lineno}: .replace(tzinfo=...)"


def test_tools_take_time_from_the_call() -> None:
    """A tool call's time is the call's: `now` from the injected clock, the practice's today and earliest
    bookable start derived from it (tools/context.py); the gateway gives aware datetimes in the practice's zone,
    and only server/sikka/writes.py drops the zone, for what Sikka is sent."""
    assert list(clock_reads("tools")) == []


def test_refusals_are_raised_not_returned_in_unions() -> None:
    """A refusal is `tools.results.Refused`, raised where it is decided and answered by the tool wrapper: no
    function in tools/ returns a result type in a union (`Patient | R`, `AppointmentResult | None`)."""
    unions = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} -> {ast.unparse(node.returns)}"
        for path in sorted((ROOT / "tools").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None
        if "|" in (returned := ast.unparse(node.returns))
        and ("Result" in returned or "R" in returned.split(" | "))
        and "Unclaimed" not in returned  # tools/idempotency.py: a stored result, or none (server/once.py)
    ]
    assert unions == []
