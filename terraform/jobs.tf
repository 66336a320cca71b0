# One-off and scheduled jobs: one ECS task definition per `parlae-mcp` command, with the service's image,
# environment, secrets and network (the database admits only the service's security group). A job's task role
# holds only what that command needs: none for db upgrade and retention purge (database only), the audit-jobs
# role for audit anchor and audit verify (audit_anchor.tf).
#
#   db-upgrade       run before each deploy (docs/deploy.md; output run_migrations_command)
#   retention-purge  daily, EventBridge Scheduler
#   audit-anchor     every audit_anchor_interval_minutes (10 by default), EventBridge Scheduler
#   audit-verify     daily, EventBridge Scheduler; also run by hand when checking the chain
#
# A job that exits non-zero or cannot start is reported on the alarm topic (alarms.tf).

locals {
  jobs = {
    "db-upgrade"      = { command = ["db", "upgrade"], task_role_arn = null }
    "retention-purge" = { command = ["retention", "purge"], task_role_arn = null }
    "audit-anchor"    = { command = ["audit", "anchor"], task_role_arn = aws_iam_role.audit_jobs.arn }
    "audit-verify"    = { command = ["audit", "verify"], task_role_arn = aws_iam_role.audit_jobs.arn }
  }

  # Job -> when it runs (EventBridge Scheduler expressions, UTC).
  job_schedules = {
    "retention-purge" = "cron(15 3 * * ? *)"
    "audit-anchor"    = "rate(${var.audit_anchor_interval_minutes} minutes)" # the unanchored window (docs/hipaa.md)
    "audit-verify"    = "cron(45 4 * * ? *)"
  }

  job_families = { for job, _ in local.jobs : job => "${var.name}-${job}" }

  job_network = {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }
}

resource "aws_ecs_task_definition" "job" {
  for_each = local.jobs

  family                   = local.job_families[each.key]
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = each.value.task_role_arn
  # The service's container (image, entry point, environment, secrets, read-only root) with the job's command,
  # no port, and the job's name as the log stream prefix.
  container_definitions = jsonencode([merge(local.container_definition, {
    command      = each.value.command
    portMappings = []
    logConfiguration = {
      logDriver = "awslogs"
      options   = merge(local.container_definition.logConfiguration.options, { awslogs-stream-prefix = each.key })
    }
  })])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }
}

# --- schedules -------------------------------------------------------------------------------------------------------

resource "aws_scheduler_schedule_group" "jobs" {
  name = "${var.name}-jobs"
}

resource "aws_scheduler_schedule" "job" {
  # checkov:skip=CKV_AWS_297:A schedule holds no payload (task definition, subnets and security group only), so an AWS owned key suffices; a CMK would add a key policy grant for nothing secret.
  for_each = local.job_schedules

  name                         = "${var.name}-${each.key}"
  group_name                   = aws_scheduler_schedule_group.jobs.name
  description                  = "parlae-mcp ${join(" ", local.jobs[each.key].command)}"
  schedule_expression          = each.value
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.main.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn     = aws_ecs_task_definition.job[each.key].arn
      launch_type             = "FARGATE"
      platform_version        = "LATEST"
      task_count              = 1
      enable_ecs_managed_tags = true
      propagate_tags          = "TASK_DEFINITION"

      network_configuration {
        subnets          = local.job_network.subnets
        security_groups  = local.job_network.security_groups
        assign_public_ip = local.job_network.assign_public_ip
      }
    }

    # A start that fails (capacity, throttling) is retried for up to an hour; the next run comes anyway.
    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }
}

# --- the scheduler's role: start these task definitions in this cluster, nothing else ------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    sid     = "SchedulerAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "EventBridge Scheduler for ${var.name}: starts the scheduled job tasks"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "RunScheduledJobTasks"
    effect    = "Allow"
    actions   = ["ecs:RunTask"]
    resources = [for job, _ in local.job_schedules : "${aws_ecs_task_definition.job[job].arn_without_revision}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }

  statement {
    sid       = "TagStartedTasks"
    effect    = "Allow"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.main.name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassTheJobsRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.execution.arn, aws_iam_role.audit_jobs.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-jobs"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
