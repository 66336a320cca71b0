"""What the deployment promises: encrypted private RDS, HTTPS-only ALB, replicas, logs, audit archive."""

from __future__ import annotations

from typing import Any

import pytest

from tests.terraform.tfmodule import REPO_ROOT, Module, as_list, blocks, one

KMS_KEY = "${aws_kms_key.main.arn}"
# ALB policies that refuse TLS 1.0/1.1 (AWS's TLS 1.2+ and TLS 1.3 families).
TLS12_PLUS_POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS-1-2-2017-01",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
}
REQUIRED_OUTPUTS = {
    "alb_dns_name",
    "mcp_url",
    "webhook_url",
    "kms_key_arn",
    "db_endpoint",
    "system_secret_arn",
    "audit_bucket_name",
}


# --- variables and outputs ------------------------------------------------------------------------


def test_every_variable_has_a_description_and_a_type(tf: Module) -> None:
    for name, variable in tf.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert variable.get("type"), f"variable {name} has no type"


@pytest.mark.parametrize("name", ["certificate_arn", "domain_name", "container_image", "vpc_id"])
def test_deployment_specific_variables_are_required(tf: Module, name: str) -> None:
    assert "default" not in tf.variables[name]
    assert tf.variables[name].get("validation"), f"{name} should validate its value"


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("desired_count", 2), ("log_retention_days", 365), ("audit_object_lock_days", 2192)],
)
def test_floors_are_defaults_and_validated(tf: Module, name: str, minimum: int) -> None:
    assert tf.default(name) >= minimum
    assert tf.variables[name].get("validation"), f"{name} must reject values below {minimum}"


def test_outputs_cover_what_operators_need(tf: Module) -> None:
    assert set(tf.outputs) >= REQUIRED_OUTPUTS
    for name, output in tf.outputs.items():
        assert output.get("description"), f"output {name} has no description"
    assert tf.outputs["mcp_url"]["value"] == "https://${var.domain_name}/mcp"
    assert tf.outputs["webhook_url"]["value"] == "https://${var.domain_name}/api/sikka/webhook/authorize"


# --- KMS everywhere -------------------------------------------------------------------------------


def test_the_key_encrypts_secrets_logs_database_and_archive(tf: Module) -> None:
    assert tf.resource("aws_secretsmanager_secret", "system")["kms_key_id"] == KMS_KEY
    for name, group in tf.resources_of("aws_cloudwatch_log_group").items():
        assert group["kms_key_id"] == KMS_KEY, name
    db = tf.resource("aws_db_instance", "main")
    for attribute in ("kms_key_id", "performance_insights_kms_key_id", "master_user_secret_kms_key_id"):
        assert db[attribute] == KMS_KEY, attribute
    sse = one(tf.resource("aws_s3_bucket_server_side_encryption_configuration", "audit")["rule"])
    default = one(sse["apply_server_side_encryption_by_default"])
    assert default == {"sse_algorithm": "aws:kms", "kms_master_key_id": KMS_KEY}


# --- RDS ------------------------------------------------------------------------------------------


def test_rds_is_encrypted_private_multi_az_and_protected(tf: Module) -> None:
    db = tf.resource("aws_db_instance", "main")
    assert db["engine"] == "postgres"
    assert tf.render(db["engine_version"]).split(".")[0] == "16"
    expected_true = (
        "storage_encrypted",
        "multi_az",
        "deletion_protection",
        "iam_database_authentication_enabled",
        "auto_minor_version_upgrade",
        "copy_tags_to_snapshot",
        "performance_insights_enabled",
        "manage_master_user_password",
    )
    for attribute in expected_true:
        assert db[attribute] is True, attribute
    assert db["publicly_accessible"] is False
    assert db["skip_final_snapshot"] is False
    assert "password" not in db, "the master password is managed by RDS in Secrets Manager"
    assert tf.default("db_backup_retention_days") >= 7
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert db["enabled_cloudwatch_logs_exports"] == "${local.db_log_exports}"
    assert tf.locals["db_log_exports"] == ["postgresql", "upgrade"]
    assert db["monitoring_interval"] > 0
    assert db["db_subnet_group_name"] == "${aws_db_subnet_group.main.name}"
    assert tf.resource("aws_db_subnet_group", "main")["subnet_ids"] == "${var.private_subnet_ids}"
    assert db["vpc_security_group_ids"] == ["${aws_security_group.db.id}"]


def test_rds_forces_tls(tf: Module) -> None:
    parameters = {
        p["name"]: str(p["value"]) for p in blocks(tf.resource("aws_db_parameter_group", "main")["parameter"])
    }
    assert parameters["rds.force_ssl"] == "1"
    assert parameters.get("log_statement") in {"none", "ddl"}, "statement logging would copy PHI into logs"


def ingress_rules_of(tf: Module, group: str) -> list[dict[str, Any]]:
    return [
        rule
        for rule in tf.resources_of("aws_vpc_security_group_ingress_rule").values()
        if rule["security_group_id"] == f"${{aws_security_group.{group}.id}}"
    ]


def test_database_is_reachable_only_from_the_service(tf: Module) -> None:
    (rule,) = ingress_rules_of(tf, "db")
    assert rule["referenced_security_group_id"] == "${aws_security_group.service.id}"
    assert (rule["from_port"], rule["to_port"]) == (5432, 5432)
    assert "cidr_ipv4" not in rule
    assert "cidr_ipv6" not in rule
    assert "ingress" not in tf.resource("aws_security_group", "db"), "rules live in separate resources"


def test_service_is_reachable_only_from_the_load_balancer(tf: Module) -> None:
    (rule,) = ingress_rules_of(tf, "service")
    assert rule["referenced_security_group_id"] == "${aws_security_group.alb.id}"
    assert (rule["from_port"], rule["to_port"]) == (8000, 8000)


# --- ALB ------------------------------------------------------------------------------------------


def test_alb_listeners_are_https_only_with_tls12_plus(tf: Module) -> None:
    listeners = tf.resources_of("aws_lb_listener")
    assert listeners
    https = {name: body for name, body in listeners.items() if body["protocol"] == "HTTPS"}
    assert https, "no HTTPS listener"
    for name, listener in listeners.items():
        if listener["protocol"] == "HTTPS":
            assert listener["port"] == 443, name
            assert listener["ssl_policy"] in TLS12_PLUS_POLICIES, name
            assert listener["certificate_arn"] == "${var.certificate_arn}", name
            continue
        # anything that is not HTTPS may only redirect to HTTPS
        assert listener["protocol"] == "HTTP", name
        action = one(listener["default_action"])
        assert action["type"] == "redirect", name
        assert one(action["redirect"]) == {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}
    https_refs = {f"${{aws_lb_listener.{name}.arn}}" for name in https}
    for name, rule in tf.resources_of("aws_lb_listener_rule").items():
        assert rule["listener_arn"] in https_refs, f"listener rule {name} is attached to a non-HTTPS listener"


def test_alb_is_hardened_and_logged(tf: Module) -> None:
    alb = tf.resource("aws_lb", "main")
    assert alb["internal"] is False
    assert alb["drop_invalid_header_fields"] is True
    assert alb["enable_deletion_protection"] is True
    assert one(alb["access_logs"])["enabled"] is True
    assert alb["subnets"] == "${var.public_subnet_ids}"
    association = tf.resource("aws_wafv2_web_acl_association", "alb")
    assert association["resource_arn"] == "${aws_lb.main.arn}"


def test_target_group_health_checks_healthz_on_the_app_port(tf: Module) -> None:
    group = tf.resource("aws_lb_target_group", "app")
    assert group["port"] == 8000
    assert group["target_type"] == "ip"
    check = one(group["health_check"])
    assert check["path"] == "/healthz"
    assert check["matcher"] == "200"


def test_only_the_apps_public_paths_are_forwarded(tf: Module) -> None:
    https = tf.resource("aws_lb_listener", "https")
    assert one(https["default_action"])["type"] == "fixed-response"
    paths = tf.default("public_path_patterns")
    assert "/mcp" in paths
    assert "/api/sikka/webhook/*" in paths
    assert not any(path in {"/*", "*"} or path.startswith("/metrics") for path in paths)


# --- ECS ------------------------------------------------------------------------------------------


def test_service_runs_replicas_on_fargate_in_private_subnets(tf: Module) -> None:
    service = tf.resource("aws_ecs_service", "app")
    assert service["launch_type"] == "FARGATE"
    assert service["desired_count"] == "${var.desired_count}"
    assert tf.default("desired_count") >= 2
    network = one(service["network_configuration"])
    assert network["assign_public_ip"] is False
    assert network["subnets"] == "${var.private_subnet_ids}"
    assert network["security_groups"] == ["${aws_security_group.service.id}"]
    assert service["enable_execute_command"] is False
    balancer = one(service["load_balancer"])
    assert balancer["container_port"] == "${local.container_port}"
    assert tf.locals["container_port"] == 8000


def test_cluster_has_container_insights(tf: Module) -> None:
    settings = {s["name"]: s["value"] for s in blocks(tf.resource("aws_ecs_cluster", "main")["setting"])}
    assert settings["containerInsights"] == "enabled"


def test_task_runs_the_server_read_only_with_its_own_roles(tf: Module) -> None:
    task = tf.resource("aws_ecs_task_definition", "app")
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert task["network_mode"] == "awsvpc"
    assert task["execution_role_arn"] == "${aws_iam_role.execution.arn}"
    assert task["task_role_arn"] == "${aws_iam_role.task.arn}"
    assert task["container_definitions"] == "${jsonencode([local.container_definition])}"
    container = tf.locals["container_definition"]
    assert container["readonlyRootFilesystem"] is True
    assert container["privileged"] is False
    assert container["entryPoint"] == "${local.container_entry_point}"
    assert tf.locals["container_entry_point"] == ["parlae-mcp"]
    assert container["command"] == ["serve", "--host", "0.0.0.0", "--port", "${tostring(local.container_port)}"]
    (mapping,) = container["portMappings"]
    assert mapping["containerPort"] == "${local.container_port}"
    assert container["logConfiguration"]["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.app.name}"


def test_autoscaling_keeps_at_least_two_and_tracks_cpu_and_requests(tf: Module) -> None:
    target = tf.resource("aws_appautoscaling_target", "app")
    assert target["min_capacity"] == "${var.desired_count}"
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"
    metrics = set()
    for policy in tf.resources_of("aws_appautoscaling_policy").values():
        assert policy["policy_type"] == "TargetTrackingScaling"
        config = one(policy["target_tracking_scaling_policy_configuration"])
        metrics.add(one(config["predefined_metric_specification"])["predefined_metric_type"])
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}


# --- logs and audit archive -----------------------------------------------------------------------


def test_log_groups_keep_logs_for_the_retention_variable(tf: Module) -> None:
    groups = tf.resources_of("aws_cloudwatch_log_group")
    assert {"app", "db", "waf"} <= set(groups)
    for name, group in groups.items():
        assert group["retention_in_days"] == "${var.log_retention_days}", name


def test_audit_archive_is_versioned_locked_in_compliance_mode_for_six_years_and_private(tf: Module) -> None:
    bucket = tf.resource("aws_s3_bucket", "audit")
    assert bucket["object_lock_enabled"] is True
    assert bucket.get("force_destroy", False) is False
    versioning = one(tf.resource("aws_s3_bucket_versioning", "audit")["versioning_configuration"])
    assert versioning["status"] == "Enabled"
    lock = one(one(tf.resource("aws_s3_bucket_object_lock_configuration", "audit")["rule"])["default_retention"])
    assert lock["mode"] == "COMPLIANCE"
    assert lock["days"] == "${var.audit_object_lock_days}"
    assert tf.default("audit_object_lock_days") >= 2192


@pytest.mark.parametrize("bucket", ["audit", "logs"])
def test_buckets_block_public_access_and_refuse_plain_http(tf: Module, bucket: str) -> None:
    block = tf.resource("aws_s3_bucket_public_access_block", bucket)
    for attribute in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[attribute] is True, attribute
    policy = tf.policy_document(f"{bucket}_bucket")
    deny_http = [
        statement
        for statement in blocks(policy["statement"])
        if statement.get("effect") == "Deny"
        and any(c["variable"] == "aws:SecureTransport" for c in blocks(statement.get("condition")))
    ]
    assert deny_http, f"{bucket} bucket policy does not deny insecure transport"
    assert as_list(deny_http[0]["actions"]) == ["s3:*"]


# --- docs ------------------------------------------------------------------------------------------------


def test_deploy_doc_names_every_variable_and_output(tf: Module) -> None:
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    missing = [name for name in [*tf.variables, *tf.outputs] if f"`{name}`" not in doc]
    assert missing == [], f"docs/deploy.md does not mention: {missing}"
