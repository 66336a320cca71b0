"""Read pip-compile lock files (requirements*.lock) and the project's declared requirements, offline."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = REPO_ROOT / "requirements.lock"
DEV_LOCK = REPO_ROOT / "requirements-dev.lock"
CHECKOV_LOCK = REPO_ROOT / "requirements-checkov.lock"
CHECKOV_INPUT = REPO_ROOT / "requirements-checkov.in"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    """One locked requirement: `name==version`, its hashes and the packages that pulled it in (`# via`)."""

    name: str
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations; keep comment lines (they carry pip-compile's `# via` annotations)."""
    return [line.rstrip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def read_lock(path: Path) -> dict[str, Pin]:
    """Canonical name -> pin. Refuses anything but `name==version` lines with well-formed hashes."""
    found: list[tuple[str, str, list[str], list[str]]] = []
    for line in _logical_lines(path.read_text(encoding="utf-8")):
        if line.lstrip().startswith("#"):
            # An indented comment annotates the pin above it: "# via a" or "# via" then "#   a" lines.
            source = line.lstrip().lstrip("#").strip().removeprefix("via").strip()
            if found and source and line.startswith(" "):
                found[-1][3].append(source)
            continue
        requirement, *options = line.split()
        match = _PIN.match(requirement)
        assert match, f"{path.name}: {requirement!r} is not pinned with =="
        bad = [option for option in options if not _HASH.match(option)]
        assert not bad, f"{path.name}: unexpected options {bad} on {requirement}"
        found.append((canonicalize_name(match.group("name")), match.group("version"), options, []))
    return {name: Pin(name, version, tuple(hashes), tuple(via)) for name, version, hashes, via in found}


def project() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        data: dict[str, object] = tomllib.load(handle)["project"]
    return data


def requirements(group: str | None = None) -> list[Requirement]:
    """The project's `dependencies` (group None) or one of its optional-dependency groups."""
    data = project()
    raw = data["dependencies"] if group is None else data["optional-dependencies"][group]  # type: ignore[index]
    return [Requirement(line) for line in raw]  # type: ignore[union-attr]
