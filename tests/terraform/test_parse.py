"""The Terraform parses (checkov exits 0 on parse errors, so this is the syntax gate); the gate can fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.terraform.tfmodule import TERRAFORM_DIR, Module, parse_errors

EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "kms.tf",
    "secrets.tf",
    "iam.tf",
    "rds.tf",
    "network.tf",
    "ecs.tf",
    "alb.tf",
    "logs.tf",
    "audit_archive.tf",
    "audit_anchor.tf",
    "ecr.tf",
    "alarms.tf",
    "jobs.tf",
    "email.tf",
}


def test_root_module_has_the_expected_files() -> None:
    present = {path.name for path in TERRAFORM_DIR.glob("*.tf")}
    assert present >= EXPECTED_FILES, f"missing: {sorted(EXPECTED_FILES - present)}"


def test_every_tf_file_parses() -> None:
    assert parse_errors(TERRAFORM_DIR) == {}


def _drop_last_brace(text: str) -> str:
    return text[: text.rindex("}")]


def _unterminated_string(text: str) -> str:
    return text.replace('"kms:Decrypt"', '"kms:Decrypt', 1)


def _stray_token(text: str) -> str:
    return text.replace("enable_key_rotation", "enable_key_rotation = = ", 1)


@pytest.mark.parametrize("corrupt", [_drop_last_brace, _unterminated_string, _stray_token])
def test_parse_check_fails_on_a_broken_copy(tmp_path: Path, corrupt: Callable[[str], str]) -> None:
    original = (TERRAFORM_DIR / "kms.tf").read_text(encoding="utf-8")
    broken = corrupt(original)
    assert broken != original, "the corruption did not change the file"
    (tmp_path / "kms.tf").write_text(broken, encoding="utf-8")
    shutil.copy(TERRAFORM_DIR / "variables.tf", tmp_path / "variables.tf")

    errors = parse_errors(tmp_path)

    assert set(errors) == {"kms.tf"}


def test_terraform_block_pins_terraform_and_the_aws_provider(tf: Module) -> None:
    (block,) = tf.terraform
    assert re.fullmatch(r">=\s*1\.(6|7|8|9|1\d)(\.\d+)?", block["required_version"])
    (providers,) = block["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~>\s*5(\.\d+)*", providers["aws"]["version"])


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform CLI not installed (formatting only; parsing is checked above)")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt terraform/`; unformatted: {result.stdout.strip()}"


PROVIDER_MIRROR = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))


def test_terraform_validate_passes_offline(tmp_path: Path) -> None:
    """`terraform validate` with the AWS provider from a local mirror (no registry): types, references, required
    arguments and attribute names, which parsing alone cannot check."""
    terraform = shutil.which("terraform")
    if terraform is None or not (PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"terraform CLI or the provider mirror {PROVIDER_MIRROR} is not installed")
    for path in TERRAFORM_DIR.glob("*.tf"):
        shutil.copy(path, tmp_path / path.name)
    environment = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_DATA_DIR": str(tmp_path / ".terraform")}

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform, *arguments, "-no-color"],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    init = run("init", "-backend=false", "-input=false", f"-plugin-dir={PROVIDER_MIRROR}")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run("validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
