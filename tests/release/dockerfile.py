"""Read the Dockerfile's instructions and decide what .dockerignore keeps out of the build context."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests.release.lockfile import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper-case: FROM, RUN, COPY, ...
    arguments: str
    stage: int  # 0 for the first FROM's stage, 1 for the next, ...

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD (after any options such as HEALTHCHECK's)."""
        start = self.arguments.index("[")
        value = json.loads(self.arguments[start:])
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(part) for part in value]


def read_dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, " ".join(arguments.split()), stage))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(instruction.stage for instruction in instructions)
    return [instruction for instruction in instructions if instruction.stage == last]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (Go filepath.Match plus `**`)."""
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out += pattern[index : end + 1]
            index = end + 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def read_dockerignore(path: Path = DOCKERIGNORE) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def excluded(relative_path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `relative_path` out: the last pattern matching the path or one of its
    parent directories decides (`!` patterns re-include)."""
    parts = relative_path.strip("/").split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    decision = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            decision = not negated
    return decision
