from __future__ import annotations

import subprocess
import sys

import pytest

from server.settings import ConfigError, Settings, is_secure_url, load_settings
from tests.conftest import new_phi_key


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_secrets_backend_is_one_line_and_exit_2(tmp_path: object) -> None:
    result = run_cli("db", "upgrade", env={"SECRETS_BACKEND": "s3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRETS_BACKEND" in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_production_settings() -> None:
    env = {"PATH": "/usr/bin:/bin", "PHI_ENCRYPTION_KEY": new_phi_key()}
    result = run_cli("serve", "--port", "9", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: SIKKA_APP_ID: required outside demo mode"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"phi_encryption_key": None}, "PHI_ENCRYPTION_KEY or PHI_KMS_KEY_ID"),
        ({"sikka_api_url": "http://api.sikkasoft.com/v4"}, "SIKKA_API_URL"),
        ({"sikka_app_key": None}, "SIKKA_APP_KEY"),
    ],
)
def test_production_requirements(overrides: dict[str, object], variable: str) -> None:
    values: dict[str, object] = {
        "sikka_app_id": "a" * 32,
        "sikka_app_key": "b" * 32,
        "phi_encryption_key": new_phi_key(),
        **overrides,
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=variable):
        settings.require_production_ready()


def test_production_ready_with_kms_and_loopback_http() -> None:
    settings = Settings(
        sikka_app_id="a" * 32,
        sikka_app_key="b" * 32,
        phi_kms_key_id="alias/parlae",
        sikka_api_url="http://127.0.0.1:8100/v4",
    )
    settings.require_production_ready()


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://api.sikkasoft.com/v4", True),
        ("http://127.0.0.1:8100/v4", True),
        ("http://localhost:8100/v4", True),
        ("http://[::1]:8100/v4", True),
        ("http://api.sikkasoft.com/v4", False),
        ("http://10.0.0.5/v4", False),
        ("ftp://127.0.0.1/v4", False),
    ],
)
def test_secure_url(url: str, secure: bool) -> None:
    assert is_secure_url(url) is secure


def test_phi_key_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(ConfigError, match=r"PHI_ENCRYPTION_KEY: must decode to 32 bytes \(got 18\)"):
        load_settings(phi_encryption_key="A" * 24)
    with pytest.raises(ConfigError, match="PHI_ENCRYPTION_KEY: must be base64"):
        load_settings(phi_encryption_key="not base64 at all!")


def test_error_message_never_contains_the_value() -> None:
    secret_like = "s3cr3t-" + "x" * 20
    with pytest.raises(ConfigError) as info:
        load_settings(phi_encryption_key=secret_like)
    assert secret_like not in str(info.value)


def test_allowed_hosts_from_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLAE_ALLOWED_HOSTS", "mcp.example.com:*, 127.0.0.1:*")
    assert load_settings().parlae_allowed_hosts == ["mcp.example.com:*", "127.0.0.1:*"]


def test_audit_retention_cannot_be_shorter_than_six_years() -> None:
    with pytest.raises(ConfigError, match="RETENTION_AUDIT_DAYS"):
        load_settings(retention_audit_days=365)


def test_env_names_cover_the_contract() -> None:
    contract = {
        "DATABASE_URL",
        "SIKKA_API_URL",
        "SIKKA_APP_ID",
        "SIKKA_APP_KEY",
        "SIKKA_WEBHOOK_SECRET",
        "SECRETS_BACKEND",
        "SECRETS_PREFIX",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "PHI_ENCRYPTION_KEY",
        "PHI_KMS_KEY_ID",
        "PARLAE_DEMO_TOKEN",
        "PARLAE_ALLOWED_HOSTS",
        "LOG_LEVEL",
    }
    assert contract <= set(Settings.env_names())


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("s3://parlae-audit/anchors", True),
        ("s3://parlae-audit", True),
        ("file:///var/lib/parlae/anchors", True),
        ("file://host/anchors", False),
        ("file:relative/anchors", False),
        ("https://example.com/anchors", False),
        ("s3:///no-bucket", False),
        ("s3://bucket/prefix?versionId=1", False),
    ],
)
def test_anchor_url(url: str, valid: bool) -> None:
    if valid:
        assert load_settings(audit_anchor_url=url).audit_anchor_url == url
    else:
        with pytest.raises(ConfigError, match="AUDIT_ANCHOR_URL: must be s3://bucket/prefix or file:///"):
            load_settings(audit_anchor_url=url)


def test_exactly_one_anchor_key_source() -> None:
    url = "file:///tmp/anchors"
    assert load_settings(audit_anchor_url=url, audit_anchor_kms_key_id="alias/a").anchor_key_source() == (
        "kms",
        "alias/a",
    )
    assert load_settings(audit_anchor_url=url, audit_anchor_key_file="/k").anchor_key_source() == ("file", "/k")
    for keys in ({}, {"audit_anchor_kms_key_id": "alias/a", "audit_anchor_key_file": "/k"}):
        with pytest.raises(ConfigError, match="set exactly one when AUDIT_ANCHOR_URL is set"):
            load_settings(audit_anchor_url=url, **keys).anchor_key_source()


@pytest.mark.parametrize("value", ["*", "127.0.0.1", "10.0.0.0/16, 10.1.0.0/16", "::1, fd00::/8"])
def test_forwarded_allow_ips_accepts_addresses_networks_or_star(value: str) -> None:
    assert load_settings(forwarded_allow_ips=value).forwarded_allow_ips == value


@pytest.mark.parametrize("value", ["alb.internal", "10.0.0.0/33", "*, 10.0.0.1"])
def test_forwarded_allow_ips_refuses_anything_else(value: str) -> None:
    with pytest.raises(ConfigError, match=r"FORWARDED_ALLOW_IPS: .* is not an IP address or network"):
        load_settings(forwarded_allow_ips=value)
