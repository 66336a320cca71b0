"""The task definition's environment matches the app's settings class, so the two cannot drift apart.

Every name in `Settings.env_names()` is in exactly one of: the plain environment (settings production disables
are passed empty, which the app reads as unset, each with a documented reason) or the secrets injected from the
system secret.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.settings import Settings
from tests.terraform.tfmodule import Module

ENV_NAMES = set(Settings.env_names())
SYSTEM_SECRET = "${aws_secretsmanager_secret.system.arn}"
MUST_BE_SECRETS = {"SIKKA_APP_ID", "SIKKA_APP_KEY", "SIKKA_WEBHOOK_SECRET", "DATABASE_URL"}
# Plain values that are ARNs, the region, the domain or the ALB's subnets: known only when Terraform applies.
KNOWN_AT_APPLY_TIME = {
    "SECRETS_KMS_KEY_ID",
    "PHI_KMS_KEY_ID",
    "AWS_REGION",
    "PARLAE_ALLOWED_HOSTS",
    "FORWARDED_ALLOW_IPS",
    "AUDIT_ANCHOR_URL",
    "AUDIT_ANCHOR_KMS_KEY_ID",
    "SES_SENDER",
    "SES_CONFIGURATION_SET",
}
# Plain values production sets on purpose to something other than the app's default.
PRODUCTION_CHOICES = {"SECRETS_BACKEND", "METRICS_EMF_INTERVAL_SECONDS"}


def environment(tf: Module) -> dict[str, str]:
    values: dict[str, str] = tf.locals["container_environment_defaults"]
    return values


def secrets(tf: Module) -> dict[str, str]:
    values: dict[str, str] = tf.locals["container_secrets"]
    return values


def disabled(tf: Module) -> dict[str, str]:
    values: dict[str, str] = tf.locals["settings_disabled_in_production"]
    return values


def is_secret_field(name: str) -> bool:
    return "SecretStr" in repr(Settings.model_fields[name.lower()].annotation)


def test_container_definition_takes_environment_and_secrets_from_the_locals(tf: Module) -> None:
    merged = tf.locals["container_environment"]
    assert 'local.settings_disabled_in_production : name => ""' in merged
    assert merged.index("settings_disabled_in_production") < merged.index("local.container_environment_defaults")
    assert merged.rstrip("})").endswith("var.app_environment_overrides")
    container = tf.locals["container_definition"]
    assert "keys(local.container_environment)" in container["environment"]
    assert "value = local.container_environment[name]" in container["environment"]
    assert "keys(local.container_secrets)" in container["secrets"]
    assert "valueFrom = local.container_secrets[name]" in container["secrets"]


def test_task_definition_names_equal_the_settings_names_exactly(tf: Module) -> None:
    plain = set(environment(tf)) | set(disabled(tf))
    injected = set(secrets(tf))
    assert plain.isdisjoint(injected)
    assert set(environment(tf)).isdisjoint(disabled(tf))
    declared = plain | injected
    assert declared == ENV_NAMES, (
        f"settings missing from terraform/ecs.tf: {sorted(ENV_NAMES - declared)}; "
        f"names the app does not read: {sorted(declared - ENV_NAMES)}"
    )


def test_empty_values_mean_unset_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PHI_ENCRYPTION_KEY", "AWS_ENDPOINT_URL", "PARLAE_DEMO_TOKEN", "PHI_ENCRYPTION_OLD_KEYS"):
        monkeypatch.setenv(name, "")
    settings = Settings()
    assert settings.phi_encryption_key is None
    assert settings.aws_endpoint_url is None
    assert settings.parlae_demo_token is None


def test_credentials_come_from_secrets_manager_not_plain_environment(tf: Module) -> None:
    assert set(secrets(tf)) >= MUST_BE_SECRETS
    for name in ENV_NAMES:
        if is_secret_field(name):
            assert name not in environment(tf), f"{name} is a SecretStr setting passed as plain environment"


def test_each_secret_is_its_own_json_key_of_the_system_secret(tf: Module) -> None:
    for name, value_from in secrets(tf).items():
        assert value_from == f"{SYSTEM_SECRET}:{name}::", f"{name}: {value_from}"
    initial = tf.resource("aws_secretsmanager_secret_version", "system_initial")
    assert initial["secret_id"] == "${aws_secretsmanager_secret.system.id}"
    assert "keys(local.container_secrets)" in initial["secret_string"], "every referenced JSON key must exist"


def test_disabled_settings_are_optional_and_explained(tf: Module) -> None:
    for name, reason in disabled(tf).items():
        field = Settings.model_fields[name.lower()]
        assert not field.is_required(), name
        assert field.default is None, f"{name}: only settings that are off by default may be disabled"
        assert len(reason) >= 30, f"{name}: give a reason"
    assert "PHI_KMS_KEY_ID" not in disabled(tf)


def test_production_values(tf: Module) -> None:
    env = environment(tf)
    assert env["SECRETS_BACKEND"] == "aws"
    assert env["SECRETS_PREFIX"] == "${var.secrets_prefix}"
    assert tf.default("secrets_prefix") == Settings.model_fields["secrets_prefix"].default
    assert env["PHI_KMS_KEY_ID"] == "${aws_kms_key.main.arn}"
    assert env["SECRETS_KMS_KEY_ID"] == "${aws_kms_key.main.arn}"
    assert env["PARLAE_ALLOWED_HOSTS"] == "${var.domain_name}:*"
    assert env["WEBHOOK_ACCEPT_CALLBACK_KEY"] == "false"
    assert tf.render(env["SIKKA_API_URL"]).startswith("https://")


def test_client_ips_come_from_the_address_the_load_balancer_appended(tf: Module) -> None:
    """uvicorn walks X-Forwarded-For from the right and stops at the first address outside FORWARDED_ALLOW_IPS:
    trusting only the ALB's subnets yields the address the ALB appended (the caller), never a forged one."""
    assert environment(tf)["FORWARDED_ALLOW_IPS"] == "${local.alb_subnet_cidrs}"
    cidrs = tf.locals["alb_subnet_cidrs"]
    assert "data.aws_subnet.public" in cidrs
    assert "subnet.cidr_block" in cidrs
    assert tf.data[("aws_subnet", "public")]["for_each"] == "${toset(var.public_subnet_ids)}"
    assert tf.resource("aws_lb", "main")["xff_header_processing_mode"] == "append"


def test_the_service_names_the_anchor_bucket_and_key_but_cannot_use_them(tf: Module) -> None:
    """AUDIT_ANCHOR_* point at the Object Lock bucket's prefix and the HMAC key; only the audit jobs' task role
    may write there or MAC (tests/terraform/test_operations.py checks the roles)."""
    assert environment(tf)["AUDIT_ANCHOR_URL"] == "s3://${aws_s3_bucket.audit.id}/${local.audit_anchor_prefix}"
    assert environment(tf)["AUDIT_ANCHOR_KMS_KEY_ID"] == "${aws_kms_key.audit_anchor.arn}"
    assert "AUDIT_ANCHOR_KEY_FILE" in disabled(tf)


def literal_values(tf: Module) -> dict[str, str]:
    """Plain environment values with variable defaults filled in, minus those only known at apply time."""
    values = {name: tf.render(value) for name, value in environment(tf).items()}
    return {name: value for name, value in values.items() if not re.search(r"\$\{", value)}


def settings_from(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    fields: dict[str, Any] = {name.lower(): value for name, value in values.items()}
    return Settings(**fields)


def test_literal_values_are_valid_settings(tf: Module, monkeypatch: pytest.MonkeyPatch) -> None:
    """The values Terraform sets (with variable defaults filled in) pass the app's own validation."""
    literal = literal_values(tf)
    assert set(environment(tf)) - set(literal) == KNOWN_AT_APPLY_TIME, "only these can be checked at apply time"

    settings = settings_from(literal, monkeypatch)

    assert settings.secrets_backend == "aws"
    assert settings.secrets_prefix == Settings.model_fields["secrets_prefix"].default
    assert not settings.webhook_accept_callback_key
    assert settings.sikka_api_url.startswith("https://")


def test_tunables_are_the_apps_defaults_written_out(tf: Module, monkeypatch: pytest.MonkeyPatch) -> None:
    """A literal value that is not a deliberate production choice must equal the app's default, so a new
    default in server/settings.py is not silently pinned to the old one (use app_environment_overrides)."""
    literal = literal_values(tf)
    settings = settings_from(literal, monkeypatch)
    differing = [
        name
        for name in literal
        if name not in PRODUCTION_CHOICES
        and getattr(settings, name.lower())
        != Settings.model_fields[name.lower()].get_default(call_default_factory=True)
    ]
    assert differing == [], f"values differ from the app's defaults: {differing}"
