"""IAM and key policy: practice secrets only under the app's prefix; the key via services or with context."""

from __future__ import annotations

import pytest

from server.phi.keys import KMS_ENCRYPTION_CONTEXT
from server.settings import Settings
from tests.terraform.tfmodule import (
    Module,
    Statement,
    actions,
    conditions,
    one,
    principals,
    reference_name,
    resources,
    statements,
)

APP_SECRETS_PREFIX: str = Settings.model_fields["secrets_prefix"].default
SECRET_ACTIONS_THE_APP_NEEDS = {
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RestoreSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UpdateSecret",
}
ALLOWED_MANAGED_POLICIES = {
    "service-role/AmazonECSTaskExecutionRolePolicy",
    "service-role/AmazonRDSEnhancedMonitoringRole",
}
KMS_KEY = "${aws_kms_key.main.arn}"
SYSTEM_SECRET = "${aws_secretsmanager_secret.system.arn}"
# The encryption context the app sends with GenerateDataKey/Decrypt for PHI data keys.
PHI_CONTEXT = {f"kms:EncryptionContext:{key}": [value] for key, value in KMS_ENCRYPTION_CONTEXT.items()}
PHI_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
KMS_USE_ACTIONS = {
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
}


def role_policies(tf: Module) -> dict[str, list[Statement]]:
    """Role name -> statements of its inline policies (each must come from a policy document)."""
    found: dict[str, list[Statement]] = {}
    for policy in tf.resources_of("aws_iam_role_policy").values():
        role = reference_name(policy["role"], "aws_iam_role.")
        document = reference_name(policy["policy"], "data.aws_iam_policy_document.")
        found.setdefault(role, []).extend(statements(tf.policy_document(document)))
    return found


def all_role_statements(tf: Module) -> list[Statement]:
    return [statement for group in role_policies(tf).values() for statement in group]


def service_of(action: str) -> str:
    return action.split(":", 1)[0].lower()


def test_no_policy_is_written_outside_a_policy_document(tf: Module) -> None:
    assert tf.resources_of("aws_iam_policy") == {}, "use aws_iam_role_policy + data.aws_iam_policy_document"
    assert set(role_policies(tf)) == {"execution", "task", "audit_jobs", "scheduler"}


def test_only_the_expected_aws_managed_policies_are_attached(tf: Module) -> None:
    attached = {
        attachment["policy_arn"].split(":policy/", 1)[1]
        for attachment in tf.resources_of("aws_iam_role_policy_attachment").values()
    }
    assert attached <= ALLOWED_MANAGED_POLICIES


def test_iam_policies_have_no_wildcard_action_or_resource_on_secretsmanager_or_kms(tf: Module) -> None:
    for statement in all_role_statements(tf):
        sid = statement.get("sid", "?")
        for action in actions(statement):
            assert action != "*", sid
            if service_of(action) in {"secretsmanager", "kms"}:
                assert "*" not in action, f"{sid}: wildcard action {action}"
        if {service_of(action) for action in actions(statement)} & {"secretsmanager", "kms"}:
            for resource in resources(statement):
                assert resource != "*", f"{sid}: resource '*'"
                assert not resource.endswith(":*"), f"{sid}: {resource}"
        assert statement.get("effect", "Allow") == "Allow"


def test_secret_resources_are_under_the_apps_default_prefix(tf: Module) -> None:
    assert tf.default("secrets_prefix") == APP_SECRETS_PREFIX
    task_statements = role_policies(tf)["task"]
    secret_resources = [
        tf.render(resource)
        for statement in task_statements
        if any(service_of(action) == "secretsmanager" for action in actions(statement))
        for resource in resources(statement)
    ]
    assert secret_resources, "the task role has no Secrets Manager statement"
    for resource in secret_resources:
        assert ":secretsmanager:" in resource, resource
        name = resource.split(":secret:", 1)[1]
        assert name == f"{APP_SECRETS_PREFIX}/*", f"{resource} is not limited to {APP_SECRETS_PREFIX}/"


def test_task_role_can_do_what_the_app_needs_with_practice_secrets(tf: Module) -> None:
    granted = {
        action
        for statement in role_policies(tf)["task"]
        for action in actions(statement)
        if service_of(action) == "secretsmanager"
    }
    assert granted == SECRET_ACTIONS_THE_APP_NEEDS


def test_execution_role_reads_only_the_system_secret(tf: Module) -> None:
    for statement in role_policies(tf)["execution"]:
        secret_actions = [action for action in actions(statement) if service_of(action) == "secretsmanager"]
        if secret_actions:
            assert secret_actions == ["secretsmanager:GetSecretValue"]
            assert resources(statement) == [SYSTEM_SECRET]


@pytest.mark.parametrize("role", ["execution", "task"])
def test_iam_kms_use_is_only_on_the_key_and_only_via_secrets_manager_s3_or_with_phi_context(
    tf: Module, role: str
) -> None:
    kms_statements = [
        statement
        for statement in role_policies(tf)[role]
        if any(service_of(action) == "kms" for action in actions(statement))
    ]
    assert kms_statements
    for statement in kms_statements:
        sid = statement.get("sid", "?")
        assert resources(statement) == [KMS_KEY], sid
        found = conditions(statement)
        via = found.get("kms:ViaService")
        if via is not None:
            assert len(via) == 1, sid
            assert via[0] in {
                "secretsmanager.${local.region}.amazonaws.com",
                "s3.${local.region}.amazonaws.com",
            }
            context_keys = [key for key in found if key.startswith("kms:EncryptionContext:")]
            assert context_keys, f"{sid}: via-service use must also pin the encryption context (which secret/bucket)"
        else:
            assert found == PHI_CONTEXT, f"{sid}: direct key use needs the PHI encryption context"
            assert sorted(actions(statement)) == PHI_KEY_ACTIONS, sid


def test_task_role_uses_secrets_manager_key_only_for_practice_secrets(tf: Module) -> None:
    for statement in role_policies(tf)["task"]:
        found = conditions(statement)
        if found.get("kms:ViaService") == ["secretsmanager.${local.region}.amazonaws.com"]:
            (pattern,) = found["kms:EncryptionContext:SecretARN"]
            assert tf.render(pattern).endswith(f":secret:{APP_SECRETS_PREFIX}/*")


def test_kms_key_rotation_is_on_and_the_key_has_a_policy(tf: Module) -> None:
    key = tf.resource("aws_kms_key", "main")
    assert key["enable_key_rotation"] is True
    assert key.get("rotation_period_in_days", 365) <= 365
    assert key["deletion_window_in_days"] >= 7
    assert reference_name(key["policy"], "data.aws_iam_policy_document.") == "kms"


@pytest.mark.parametrize("document", ["kms", "kms_ops", "kms_audit_anchor", "kms_administration"])
def test_key_policy_gives_no_one_unconditioned_use_of_the_key(tf: Module, document: str) -> None:
    for statement in statements(tf.policy_document(document)):
        sid = statement.get("sid", "?")
        assert statement.get("effect", "Allow") == "Allow", sid
        assert "kms:*" not in actions(statement), f"{sid}: kms:* grants use as well as administration"
        for _type, identifier in principals(statement):
            assert identifier != "*", f"{sid}: wildcard principal"
        if KMS_USE_ACTIONS & set(actions(statement)):
            assert conditions(statement), f"{sid}: use of the key without a condition"


def test_key_policy_scopes_each_service(tf: Module) -> None:
    by_sid = {statement["sid"]: statement for statement in statements(tf.policy_document("kms"))}

    via = conditions(by_sid["UseViaSecretsManagerRdsAndS3"])["kms:ViaService"]
    assert {value.split(".", 1)[0] for value in via} == {"secretsmanager", "rds", "s3"}

    phi = by_sid["PhiDataKeysForTaskRole"]
    assert list(principals(phi)) == [("AWS", "${aws_iam_role.task.arn}")]
    assert conditions(phi) == PHI_CONTEXT
    assert sorted(actions(phi)) == PHI_KEY_ACTIONS

    logs = by_sid["CloudWatchLogsForOwnLogGroups"]
    assert list(principals(logs)) == [("Service", "logs.${local.region}.amazonaws.com")]
    assert conditions(logs) == {"kms:EncryptionContext:aws:logs:arn": ["${local.log_group_arns}"]}
    for name in ("local.app_log_group_name", "local.waf_log_group_name", "local.db_log_group_names"):
        assert name in tf.locals["log_group_arns"]
    listed = {"${local.app_log_group_name}", "${local.waf_log_group_name}"}
    for log_group in tf.resources_of("aws_cloudwatch_log_group").values():
        if log_group["name"] == "${each.value}":  # the RDS export groups
            assert log_group["for_each"] == "${toset(local.db_log_group_names)}"
        else:
            assert log_group["name"] in listed, f"log group {log_group['name']} is not in local.log_group_arns"


# --- the other keys, the audit-jobs role, the scheduler's role ---------------------------------------------------

ANCHOR_KEY = "${aws_kms_key.audit_anchor.arn}"
ANCHOR_OBJECTS = "${aws_s3_bucket.audit.arn}/${local.audit_anchor_prefix}/*"


@pytest.mark.parametrize("key", ["main", "ops", "audit_anchor"])
def test_every_key_policy_includes_the_administration_statement_and_nothing_else_grants_it(
    tf: Module, key: str
) -> None:
    document = reference_name(tf.resource("aws_kms_key", key)["policy"], "data.aws_iam_policy_document.")
    body = tf.policy_document(document)
    assert body["source_policy_documents"] == ["${data.aws_iam_policy_document.kms_administration.json}"]
    for statement in statements(body):
        assert not {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} & set(actions(statement)), statement["sid"]
    (admin,) = statements(tf.policy_document("kms_administration"))
    assert not KMS_USE_ACTIONS & set(actions(admin))


def test_the_ops_key_rotates_and_serves_ecr_and_the_alarm_topic_only(tf: Module) -> None:
    key = tf.resource("aws_kms_key", "ops")
    assert key["enable_key_rotation"] is True
    by_sid = {statement["sid"]: statement for statement in statements(tf.policy_document("kms_ops"))}
    assert conditions(by_sid["EcrGrantsForRepositories"])["kms:ViaService"] == ["ecr.${local.region}.amazonaws.com"]
    for sid, service in (
        ("CloudWatchAlarmsPublishToAlarmTopic", "cloudwatch.amazonaws.com"),
        ("EventBridgePublishesToAlarmTopic", "events.amazonaws.com"),
    ):
        assert list(principals(by_sid[sid])) == [("Service", service)]
        assert conditions(by_sid[sid])["kms:EncryptionContext:aws:sns:topicArn"] == ["${local.alarm_topic_arn}"]


def test_the_anchor_key_is_an_hmac_key_only_the_audit_jobs_role_can_use(tf: Module) -> None:
    key = tf.resource("aws_kms_key", "audit_anchor")
    assert key["key_usage"] == "GENERATE_VERIFY_MAC"
    assert key["customer_master_key_spec"] == "HMAC_256"
    (use,) = statements(tf.policy_document("kms_audit_anchor"))
    assert list(principals(use)) == [("AWS", "${aws_iam_role.audit_jobs.arn}")]
    assert sorted(actions(use)) == ["kms:GenerateMac", "kms:VerifyMac"]


def test_the_audit_jobs_role_reaches_only_the_anchors(tf: Module) -> None:
    by_sid = {statement["sid"]: statement for statement in role_policies(tf)["audit_jobs"]}
    assert resources(by_sid["AnchorsWriteAndRead"]) == [ANCHOR_OBJECTS]
    assert sorted(actions(by_sid["AnchorsWriteAndRead"])) == ["s3:GetObject", "s3:PutObject"]
    assert conditions(by_sid["AnchorsList"]) == {"s3:prefix": ["${local.audit_anchor_prefix}/*"]}
    assert resources(by_sid["AnchorMacs"]) == [ANCHOR_KEY]
    via_s3 = conditions(by_sid["AuditArchiveKeyViaS3"])
    assert via_s3["kms:EncryptionContext:aws:s3:arn"] == ["${aws_s3_bucket.audit.arn}"]
    assert not any("secretsmanager" in action for statement in by_sid.values() for action in actions(statement))


def test_the_web_service_cannot_write_anchors_or_use_the_anchor_key(tf: Module) -> None:
    for statement in role_policies(tf)["task"]:
        assert not {"kms:GenerateMac", "kms:VerifyMac"} & set(actions(statement))
        assert ANCHOR_KEY not in resources(statement)
        assert all("anchor" not in resource for resource in resources(statement))


def test_the_scheduler_starts_only_the_scheduled_jobs_in_the_cluster(tf: Module) -> None:
    by_sid = {statement["sid"]: statement for statement in role_policies(tf)["scheduler"]}
    run = by_sid["RunScheduledJobTasks"]
    assert actions(run) == ["ecs:RunTask"]
    assert "local.job_schedules" in run["resources"]
    assert conditions(run) == {"ecs:cluster": ["${aws_ecs_cluster.main.arn}"]}
    passing = by_sid["PassTheJobsRoles"]
    assert resources(passing) == ["${aws_iam_role.execution.arn}", "${aws_iam_role.audit_jobs.arn}"]
    assert conditions(passing) == {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}
    assert set(by_sid) == {"RunScheduledJobTasks", "TagStartedTasks", "PassTheJobsRoles"}


def test_the_service_sends_email_only_as_the_staff_identity_through_the_tls_set(tf: Module) -> None:
    sending = [s for s in all_role_statements(tf) if any(service_of(a) == "ses" for a in actions(s))]
    (statement,) = sending
    assert actions(statement) == ["ses:SendEmail"]
    assert resources(statement) == [
        "${aws_sesv2_email_identity.staff.arn}",
        "${aws_sesv2_configuration_set.staff.arn}",
    ]
    assert conditions(statement) == {"ses:FromAddress": ["${local.staff_email_sender}"]}
    configuration = tf.resource("aws_sesv2_configuration_set", "staff")
    assert one(configuration["delivery_options"])["tls_policy"] == "REQUIRE"
    identity = tf.resource("aws_sesv2_email_identity", "staff")
    assert identity["configuration_set_name"] == "${aws_sesv2_configuration_set.staff.configuration_set_name}"
