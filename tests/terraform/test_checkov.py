"""checkov (pinned, from .venv-checkov, put on PATH by `make test`) finds no failed check in terraform/ (terraform
framework) nor in the Dockerfile (dockerfile framework).

checkov exits 0 on a directory it cannot parse or that holds no resources, so each run must also report parsed
resources and passed checks; syntax errors are caught by test_parse.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.release.lockfile import CHECKOV_LOCK, read_lock
from tests.terraform.tfmodule import REPO_ROOT, TERRAFORM_DIR

CONFIG_FILE = REPO_ROOT / ".checkov.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
CHECKOV_ARGS = ["--skip-download", "--compact", "--quiet"]
INLINE_SKIP = re.compile(r"#\s*checkov:skip=(?P<id>[^:\s]+)(?::(?P<reason>.*))?")
CHECK_ID = re.compile(r"CKV2?_[A-Z0-9]+_\d+")
MIN_REASON_LENGTH = 20


@dataclass(frozen=True)
class Target:
    """What one checkov run scans, and the least it must have found there."""

    framework: str
    arguments: tuple[str, ...]
    min_resources: int
    skip_files: tuple[Path, ...]


TARGETS = {
    "terraform": Target("terraform", ("-d", str(TERRAFORM_DIR)), 40, tuple(sorted(TERRAFORM_DIR.glob("*.tf")))),
    "dockerfile": Target("dockerfile", ("-f", str(DOCKERFILE)), 1, (DOCKERFILE,)),
}


@dataclass(frozen=True)
class CheckovRun:
    returncode: int
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    output: str


def pinned_checkov_version() -> str:
    return read_lock(CHECKOV_LOCK)["checkov"].version


def parse_report(stdout: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Summary and failed checks of `-o json`: a report, a list of them, or a bare summary (no resources)."""
    report = json.loads(stdout)
    reports = report if isinstance(report, list) else [report]
    counts = ("passed", "failed", "skipped", "parsing_errors", "resource_count")
    summary: dict[str, Any] = dict.fromkeys(counts, 0)
    failed: list[dict[str, Any]] = []
    for item in reports:
        part = item.get("summary", item)
        for key in counts:
            summary[key] += int(part.get(key, 0))
        summary["checkov_version"] = part.get("checkov_version")
        failed.extend(item.get("results", {}).get("failed_checks", []))
    return summary, failed


@pytest.fixture(scope="module", params=sorted(TARGETS))
def target(request: pytest.FixtureRequest) -> Target:
    return TARGETS[request.param]


@pytest.fixture(scope="module")
def checkov_run(target: Target) -> CheckovRun:
    checkov = shutil.which("checkov")
    if checkov is None:
        pytest.fail(
            "checkov is not on PATH: run `make test` (it installs requirements-checkov.lock into .venv-checkov "
            "and puts .venv-checkov/bin on PATH), or `make .venv-checkov/.installed` and prepend "
            ".venv-checkov/bin to PATH"
        )
    command = [
        checkov,
        "--framework",
        target.framework,
        *CHECKOV_ARGS,
        "--config-file",
        str(CONFIG_FILE),
        *target.arguments,
        "-o",
        "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=180, check=False)
    try:
        summary, failed = parse_report(result.stdout)
    except (json.JSONDecodeError, AttributeError) as exc:
        pytest.fail(f"checkov printed no JSON report ({exc}); stderr:\n{result.stderr[-3000:]}")
    return CheckovRun(result.returncode, summary, failed, result.stdout + result.stderr)


def test_checkov_is_the_pinned_version(checkov_run: CheckovRun) -> None:
    assert checkov_run.summary["checkov_version"] == pinned_checkov_version()


def test_checkov_reports_no_failed_check(checkov_run: CheckovRun) -> None:
    failures = [
        f"{check.get('check_id')} {check.get('resource')} ({check.get('file_path')}): {check.get('check_name')}"
        for check in checkov_run.failed
    ]
    assert checkov_run.summary["failed"] == 0, "checkov failed checks:\n" + "\n".join(failures)
    assert failures == []
    assert checkov_run.returncode == 0, checkov_run.output[-3000:]


def test_checkov_actually_scanned_the_target(checkov_run: CheckovRun, target: Target) -> None:
    assert checkov_run.summary["parsing_errors"] == 0
    assert checkov_run.summary["resource_count"] >= target.min_resources, checkov_run.summary
    assert checkov_run.summary["passed"] > 0, checkov_run.summary


def test_parse_report_handles_every_shape() -> None:
    bare = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 1, "resource_count": 0}
    assert parse_report(json.dumps(bare))[0]["parsing_errors"] == 1
    failing = {"summary": {**bare, "failed": 2}, "results": {"failed_checks": [{"check_id": "CKV_X_1"}]}}
    summary, failed = parse_report(json.dumps([failing, failing]))
    assert summary["failed"] == 4
    assert len(failed) == 2


def inline_skips(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(file:line, check id, reason) of every inline `checkov:skip=` comment."""
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = INLINE_SKIP.search(line)
            if match:
                found.append((f"{path.name}:{number}", match.group("id"), (match.group("reason") or "").strip()))
    return found


def test_every_inline_skip_names_a_check_and_gives_a_reason() -> None:
    skips = inline_skips([path for target in TARGETS.values() for path in target.skip_files])
    assert skips, "expected the documented skips (if none remain, delete this assertion)"
    for where, check_id, reason in skips:
        assert CHECK_ID.fullmatch(check_id), f"{where}: {check_id!r} is not a checkov check id"
        assert len(reason) >= MIN_REASON_LENGTH, f"{where}: skip of {check_id} needs a written reason"


def test_every_config_skip_gives_a_reason() -> None:
    lines = CONFIG_FILE.read_text(encoding="utf-8").splitlines()
    in_skip_list = False
    for number, line in enumerate(lines, start=1):
        code = line.split("#", 1)[0]
        if re.match(r"^skip-check\s*:", code):
            assert not code.split(":", 1)[1].strip(), f".checkov.yaml:{number}: list skips one per line"
            in_skip_list = True
            continue
        if in_skip_list and code.strip().startswith("- "):
            reason = line.split("#", 1)[1].strip() if "#" in line else ""
            assert len(reason) >= MIN_REASON_LENGTH, f".checkov.yaml:{number}: skip needs a `# reason` comment"
        elif code.strip() and not code.startswith((" ", "\t")):
            in_skip_list = False
