"""Anchors in production form, against moto: an Object Lock bucket (PutObject only, never overwriting) and a
KMS HMAC_256 key (GenerateMac/VerifyMac, HMAC_SHA_256); and the CLI configured for them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from app.cli import main
from server.audit.anchor import AnchoredHead, AnchorError, Anchoring, authentic
from server.audit.anchor_key import KmsKey
from server.audit.anchor_store import S3Store, anchor_name
from tests.conftest import AWS_REGION, new_phi_key
from tests.integration.test_audit_anchor import roll_back
from tests.integration.test_audit_chain import write_records

pytestmark = pytest.mark.anyio
BUCKET = "parlae-audit-anchors-test"
PREFIX = "anchors/prod"
HEADS = [
    AnchoredHead("acc_a", 5, "a" * 64, datetime(2026, 11, 1, tzinfo=UTC)),
    AnchoredHead("acc_b", 1, "b" * 64, None),
]


@dataclass
class Aws:
    s3: Any
    kms: Any
    key_id: str

    def anchoring(self, key_id: str | None = None) -> Anchoring:
        return Anchoring(S3Store(self.s3, BUCKET, PREFIX), KmsKey(self.kms, key_id or self.key_id))

    def hmac_key(self) -> str:
        created = self.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        return str(created["KeyMetadata"]["Arn"])


@pytest.fixture
def aws_anchors(aws: None) -> Aws:
    s3 = boto3.client("s3", region_name=AWS_REGION)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2192}},
        },
    )
    kms = boto3.client("kms", region_name=AWS_REGION)
    anchors = Aws(s3, kms, "")
    anchors.key_id = anchors.hmac_key()
    return anchors


async def test_anchors_are_added_to_the_bucket_and_the_newest_authentic_one_is_used(aws_anchors: Aws) -> None:
    anchoring = aws_anchors.anchoring()
    now = datetime.now(UTC)
    first = await anchoring.write(HEADS[:1], now - timedelta(hours=1))
    second = await anchoring.write(HEADS, now)
    assert first.startswith(f"s3://{BUCKET}/{PREFIX}/")
    listed = aws_anchors.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")["Contents"]
    assert sorted(f"s3://{BUCKET}/{item['Key']}" for item in listed) == [first, second]
    latest, problems = await anchoring.latest()
    assert problems == []
    assert latest is not None
    assert latest.name == second.rsplit("/", 1)[1]
    assert latest.heads == tuple(HEADS)
    body = json.loads(
        aws_anchors.s3.get_object(Bucket=BUCKET, Key=second.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    )
    assert body["keyId"] == aws_anchors.key_id
    assert set(body) == {"version", "anchoredAt", "heads", "keyId", "mac"}


async def test_an_existing_anchor_is_never_overwritten(aws_anchors: Aws) -> None:
    store = S3Store(aws_anchors.s3, BUCKET, PREFIX)
    name = anchor_name(datetime.now(UTC))
    store.put(name, b"{}")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        store.put(name, b'{"replaced": true}')
    assert store.get(name) == b"{}"


async def test_anchors_macd_with_another_kms_key_or_damaged_are_not_authentic(aws_anchors: Aws) -> None:
    anchoring = aws_anchors.anchoring()
    now = datetime.now(UTC)
    genuine = await anchoring.write(HEADS, now - timedelta(minutes=2))
    forged = await aws_anchors.anchoring(aws_anchors.hmac_key()).write(HEADS[:1], now - timedelta(minutes=1))
    store = S3Store(aws_anchors.s3, BUCKET, PREFIX)
    damaged_name = anchor_name(now)
    document = json.loads(store.get(genuine.rsplit("/", 1)[1]))
    document["heads"][0]["hash"] = "c" * 64
    store.put(damaged_name, json.dumps(document).encode())
    latest, problems = await anchoring.latest()
    assert latest is not None
    assert latest.name == genuine.rsplit("/", 1)[1]
    assert problems == [
        f"anchor {damaged_name} is not authentic (bad MAC, another key, or malformed)",
        f"anchor {forged.rsplit('/', 1)[1]} is not authentic (bad MAC, another key, or malformed)",
    ]
    assert authentic("x", store.get(genuine.rsplit("/", 1)[1]), anchoring.key) is not None


async def test_kms_and_s3_failures_are_anchor_errors(aws_anchors: Aws) -> None:
    encrypt_only = aws_anchors.kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(AnchorError, match="InvalidKeyUsageException"):
        await aws_anchors.anchoring(encrypt_only).write(HEADS, datetime.now(UTC))
    missing_bucket = Anchoring(S3Store(aws_anchors.s3, "no-such-bucket-here", ""), aws_anchors.anchoring().key)
    with pytest.raises(AnchorError, match="NoSuchBucket"):
        await missing_bucket.latest()


def cli(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["audit", *args, "--json"], env=env, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


async def test_the_cli_anchors_to_s3_with_kms_and_verifies(aws_anchors: Aws, database_url: str) -> None:
    await write_records(database_url, {"acc_a": 4})
    env = {
        "DATABASE_URL": database_url,
        "PHI_ENCRYPTION_KEY": new_phi_key(),
        "LOG_LEVEL": "WARNING",
        "AUDIT_ANCHOR_URL": f"s3://{BUCKET}/{PREFIX}",
        "AUDIT_ANCHOR_KMS_KEY_ID": aws_anchors.key_id,
        "AUDIT_ANCHOR_KEY_FILE": "",
    }
    code, written = await run_in_thread(cli, env, "anchor")
    assert code == 0, written
    assert written["url"].startswith(f"s3://{BUCKET}/{PREFIX}/")
    code, report = await run_in_thread(cli, env, "verify")
    assert (code, report["intact"], report["anchor"]["checked"]) == (0, True, True)
    await roll_back(database_url, "acc_a", 2)
    code, report = await run_in_thread(cli, env, "verify")
    assert code == 1
    assert "rolled back to seq 2, below the anchored seq 4" in report["problem"]


async def run_in_thread(function: Any, *args: Any) -> Any:
    """The CLI runs its own event loop: give it a thread (moto patches botocore process-wide)."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(function, *args)
