"""Running the service: the image registry, the alarms and their topic, the one-off and scheduled jobs."""

from __future__ import annotations

import click
import pytest

from app.cli import command as cli_command
from server.emf import METRICS, NAMESPACE
from tests.terraform.tfmodule import Module, blocks, one

TOPIC = "${aws_sns_topic.alarms.arn}"
OPS_KEY = "${aws_kms_key.ops.arn}"
# Job -> the parlae-mcp command it runs, and when (None: one-off only; "minutes": every few minutes).
EXPECTED_JOBS = {
    "db-upgrade": (["db", "upgrade"], None),
    "retention-purge": (["retention", "purge"], "daily"),
    "audit-anchor": (["audit", "anchor"], "minutes"),
    "audit-verify": (["audit", "verify"], "daily"),
}
# Records since the last anchor can be cut unnoticed (docs/hipaa.md): anchors come at least this often by default.
MAX_UNANCHORED_MINUTES = 15
ALB_METRICS = {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount", "TargetResponseTime"}
ALB_METRICS |= {"UnHealthyHostCount"}
SERVICE_METRICS = {
    "AuditWriteFailures",
    "SikkaRequests",
    "SikkaErrors",
    "WritebacksPendingOldestSeconds",
    "StaffDeliveriesDead",
    "KeyRenewalFailures",
    "PracticeSyncFailures",
}


def alarm_metrics(tf: Module) -> dict[str, set[tuple[str, str]]]:
    """Alarm resource name -> the (namespace, metric) pairs it reads, for_each and dynamic blocks expanded."""
    found: dict[str, set[tuple[str, str]]] = {}
    for name, alarm in tf.resources_of("aws_cloudwatch_metric_alarm").items():
        pairs: set[tuple[str, str]] = set()
        if alarm.get("for_each") == "${local.service_alarms}":
            namespace = tf.locals["metrics_namespace"]
            pairs |= {(namespace, spec["metric"]) for spec in tf.locals["service_alarms"].values()}
        elif alarm.get("for_each") == "${local.rate_alarms}":
            (dynamic,) = blocks(alarm["dynamic"])
            assert dynamic["metric_query"]["for_each"] == "${each.value.counts}"
            for spec in tf.locals["rate_alarms"].values():
                namespace = tf.render(spec["namespace"]).replace("${local.metrics_namespace}", NAMESPACE)
                pairs |= {(namespace, metric) for metric in spec["counts"].values()}
        else:
            pairs.add((alarm["namespace"], alarm["metric_name"]))
        found[name] = pairs
    return found


# --- ECR ------------------------------------------------------------------------------------------------------------


def test_the_registry_is_immutable_scanned_and_encrypted_with_the_ops_key(tf: Module) -> None:
    repository = tf.resource("aws_ecr_repository", "app")
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert one(repository["image_scanning_configuration"])["scan_on_push"] is True
    assert one(repository["encryption_configuration"]) == {"encryption_type": "KMS", "kms_key": OPS_KEY}
    assert repository["force_delete"] is False


def test_the_registry_keeps_enough_images_to_roll_back(tf: Module) -> None:
    lifecycle = tf.resource("aws_ecr_lifecycle_policy", "app")
    assert lifecycle["repository"] == "${aws_ecr_repository.app.name}"
    policy = lifecycle["policy"]
    assert 'tagStatus = "untagged"' in policy
    assert 'countType = "imageCountMoreThan", countNumber = var.ecr_keep_images' in policy
    assert tf.default("ecr_keep_images") >= 5


# --- alarms ---------------------------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(tf: Module) -> None:
    alarms = tf.resources_of("aws_cloudwatch_metric_alarm")
    instances = sum(
        len(tf.locals[alarm["for_each"].removeprefix("${local.").removesuffix("}")]) if "for_each" in alarm else 1
        for alarm in alarms.values()
    )
    assert instances == 9, "the nine alarms of docs/deploy.md"
    for name, alarm in alarms.items():
        assert alarm["alarm_actions"] == [TOPIC], name
        assert alarm["ok_actions"] == [TOPIC], name
        assert alarm["actions_enabled"] is True, name
        assert alarm["treat_missing_data"] == "notBreaching", name


def test_the_alarms_cover_the_load_balancer_and_the_services_health_metrics(tf: Module) -> None:
    read = set().union(*alarm_metrics(tf).values())
    assert {("AWS/ApplicationELB", metric) for metric in ALB_METRICS} <= read
    assert {(NAMESPACE, metric) for metric in SERVICE_METRICS} <= read
    assert tf.locals["metrics_namespace"] == NAMESPACE


def test_alarms_read_only_metrics_the_service_emits(tf: Module) -> None:
    emitted = {metric.name for metric in METRICS}
    service = {metric for namespace, metric in set().union(*alarm_metrics(tf).values()) if namespace == NAMESPACE}
    assert service <= emitted, f"alarms on metrics server/emf.py does not emit: {sorted(service - emitted)}"


def test_rate_alarms_compute_a_percentage_from_their_counts(tf: Module) -> None:
    rates = tf.locals["rate_alarms"]
    assert set(rates) == {"alb-5xx-rate", "sikka-error-rate"}
    for name, spec in rates.items():
        for query_id in spec["counts"]:
            assert query_id in spec["expression"], f"{name}: {query_id} is not used"
        assert spec["expression"].startswith("IF(requests "), name
    assert rates["alb-5xx-rate"]["threshold"] == "${var.alarm_5xx_percent}"
    assert rates["sikka-error-rate"]["threshold"] == "${var.alarm_sikka_error_percent}"
    assert rates["sikka-error-rate"]["counts"] == {"requests": "SikkaRequests", "errors": "SikkaErrors"}


def test_p99_response_time_uses_the_p99_statistic(tf: Module) -> None:
    alarm = tf.resource("aws_cloudwatch_metric_alarm", "target_response_time_p99")
    assert alarm["extended_statistic"] == "p99"
    assert alarm["threshold"] == "${var.alarm_p99_response_seconds}"
    assert 0 < tf.default("alarm_p99_response_seconds") < 20


def test_the_unowned_write_alarm_fires_only_after_the_follower_should_have_handed_the_write_to_staff(
    tf: Module,
) -> None:
    spec = tf.locals["service_alarms"]["writes-without-an-owner"]
    assert (spec["metric"], spec["statistic"]) == ("WritebacksPendingOldestSeconds", "Maximum")
    assert spec["threshold"] == "${local.write_unowned_alarm_seconds}"
    expected = 'tonumber(local.container_environment["WRITEBACK_MAX_PENDING_SECONDS"]) + 1800'
    assert tf.locals["write_unowned_alarm_seconds"] == "${" + expected + "}"


def test_a_dead_lettered_staff_delivery_raises_an_alarm(tf: Module) -> None:
    spec = tf.locals["service_alarms"]["staff-deliveries-dead-lettered"]
    assert (spec["metric"], spec["statistic"], spec["threshold"]) == ("StaffDeliveriesDead", "Sum", 1)


def test_the_topic_is_encrypted_and_only_alarms_and_the_job_rule_publish(tf: Module) -> None:
    topic = tf.resource("aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == OPS_KEY
    assert topic["name"] == "${local.alarm_topic_name}"
    assert tf.locals["alarm_topic_arn"].endswith(":${local.alarm_topic_name}")
    statements = blocks(tf.policy_document("alarm_topic")["statement"])
    services = {one(statement["principals"])["identifiers"][0] for statement in statements}
    assert services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for statement in statements:
        assert statement["actions"] == ["sns:Publish"]
        assert statement["resources"] == [TOPIC]
        assert blocks(statement.get("condition")), "publishing is limited to this account or the job rule"


def test_a_failed_job_is_reported_on_the_topic(tf: Module) -> None:
    rule = tf.resource("aws_cloudwatch_event_rule", "job_failed")
    pattern = rule["event_pattern"]
    for fragment in ('"ECS Task State Change"', 'lastStatus = ["STOPPED"]', "local.job_families", "anything-but"):
        assert fragment in pattern, fragment
    assert 'stopCode = ["TaskFailedToStart"]' in pattern
    target = tf.resource("aws_cloudwatch_event_target", "job_failed")
    assert target["arn"] == TOPIC
    assert target["rule"] == "${aws_cloudwatch_event_rule.job_failed.name}"


# --- jobs and schedules ---------------------------------------------------------------------------------------------


def test_jobs_run_the_expected_commands_with_least_privilege(tf: Module) -> None:
    jobs = tf.locals["jobs"]
    assert {name: spec["command"] for name, spec in jobs.items()} == {
        name: command for name, (command, _) in EXPECTED_JOBS.items()
    }
    assert jobs["db-upgrade"]["task_role_arn"] is None
    assert jobs["retention-purge"]["task_role_arn"] is None
    assert jobs["audit-anchor"]["task_role_arn"] == "${aws_iam_role.audit_jobs.arn}"
    assert jobs["audit-verify"]["task_role_arn"] == "${aws_iam_role.audit_jobs.arn}"


@pytest.mark.parametrize("job", sorted(EXPECTED_JOBS))
def test_each_job_command_exists_in_the_cli(job: str) -> None:
    command, _ = EXPECTED_JOBS[job]
    group = cli_command(command[0])
    assert isinstance(group, click.Group)
    assert command[1] in group.commands, f"parlae-mcp {' '.join(command)} does not exist"


def test_job_task_definitions_reuse_the_service_container(tf: Module) -> None:
    definition = tf.resource("aws_ecs_task_definition", "job")
    assert definition["for_each"] == "${local.jobs}"
    assert definition["container_definitions"].startswith("${jsonencode([merge(local.container_definition, {")
    assert "command = each.value.command" in definition["container_definitions"]
    assert definition["execution_role_arn"] == "${aws_iam_role.execution.arn}"
    assert definition["task_role_arn"] == "${each.value.task_role_arn}"
    assert definition["requires_compatibilities"] == ["FARGATE"]


def test_schedules_start_the_right_job_at_the_right_rate(tf: Module) -> None:
    schedules = tf.locals["job_schedules"]
    expected = {name: rate for name, (_, rate) in EXPECTED_JOBS.items() if rate}
    assert set(schedules) == set(expected)
    for name, expression in schedules.items():
        if expected[name] == "minutes":
            assert expression == "rate(${var.audit_anchor_interval_minutes} minutes)", name
            continue
        minute, hour, *_ = expression.removeprefix("cron(").removesuffix(")").split()
        assert minute.isdigit() and hour.isdigit(), f"{name}: {expression}"


def test_the_unanchored_window_is_minutes_by_default_and_validated(tf: Module) -> None:
    assert 5 <= tf.default("audit_anchor_interval_minutes") <= MAX_UNANCHORED_MINUTES
    assert tf.variables["audit_anchor_interval_minutes"].get("validation")


def test_schedules_target_the_job_task_definition_in_the_cluster(tf: Module) -> None:
    schedule = tf.resource("aws_scheduler_schedule", "job")
    assert schedule["for_each"] == "${local.job_schedules}"
    assert schedule["schedule_expression"] == "${each.value}"
    target = one(schedule["target"])
    assert target["arn"] == "${aws_ecs_cluster.main.arn}"
    assert target["role_arn"] == "${aws_iam_role.scheduler.arn}"
    ecs = one(target["ecs_parameters"])
    assert ecs["task_definition_arn"] == "${aws_ecs_task_definition.job[each.key].arn}"
    assert ecs["launch_type"] == "FARGATE"
    network = tf.locals["job_network"]
    assert network == {
        "subnets": "${var.private_subnet_ids}",
        "security_groups": ["${aws_security_group.service.id}"],
        "assign_public_ip": False,
    }


def test_the_migration_command_runs_the_db_upgrade_job(tf: Module) -> None:
    command = tf.outputs["run_migrations_command"]["value"]
    assert 'aws_ecs_task_definition.job["db-upgrade"].arn' in command
    assert "assignPublicIp=DISABLED" in command
