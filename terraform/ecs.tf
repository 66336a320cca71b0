# ECS Fargate: several stateless replicas of `parlae-mcp serve` in private subnets behind the ALB.
#
# The container's environment covers every setting of server.settings.Settings (tests/terraform checks that the
# names match the class exactly). Each name is in exactly one of:
#   local.container_environment        plain values (non-secret);
#   local.container_secrets            injected by ECS from the system secret (valueFrom "<arn>:<KEY>::");
#   local.settings_disabled_in_production passed empty (= unset), each with the reason.

locals {
  container_name = var.name
  container_port = 8000
  # The image's ENTRYPOINT (Dockerfile); each task definition passes the parlae-mcp command as its arguments.
  container_entry_point = ["parlae-mcp"]

  # Production choices plus the app's own defaults written out (a test keeps them equal to the defaults in
  # server/settings.py); change a value per deployment with var.app_environment_overrides.
  container_environment_defaults = {
    SIKKA_API_URL                   = var.sikka_api_url
    SIKKA_DEADLINE_SECONDS          = "5"
    SIKKA_REFRESH_MARGIN_SECONDS    = "3600"
    WRITEBACK_BUDGET_SECONDS        = "2"
    WRITEBACK_MAX_PENDING_SECONDS   = "345600" # four days: a long weekend with the office's computer off
    BOOKING_MIN_NOTICE_MINUTES      = "120"
    WEBHOOK_ACCEPT_CALLBACK_KEY     = "false" # signed (Standard Webhooks) deliveries only
    SECRETS_BACKEND                 = "aws"
    SECRETS_PREFIX                  = var.secrets_prefix
    SECRETS_KMS_KEY_ID              = aws_kms_key.main.arn
    AWS_REGION                      = local.region
    PHI_KMS_KEY_ID                  = aws_kms_key.main.arn
    PARLAE_ALLOWED_HOSTS            = "${var.domain_name}:*"
    TOKEN_CACHE_SECONDS             = "30"
    IDENTITY_BREAKER_DELAY_SECONDS  = "2" # identity checks wait this long while the token is over its failed-check threshold
    METADATA_CACHE_SECONDS          = "900"
    PREFETCH_TTL_SECONDS            = "300"
    PREFETCH_DAYS                   = "3"
    PREFETCH_REQUESTS_PER_MINUTE    = "100" # half of Sikka's ~200 a minute per practice, for call-start prefetches
    PRACTICES_SYNC_INTERVAL_SECONDS = "300" # one replica reconciles with authorized_practices (a database lease)
    RETENTION_PENDING_PATIENTS_DAYS = "30"
    RETENTION_IDEMPOTENCY_DAYS      = "7"
    RETENTION_MESSAGES_DAYS         = "90"
    RETENTION_CONSENTS_DAYS         = "2196"
    RETENTION_AUDIT_DAYS            = "2196" # six years, leap days included; the app refuses fewer
    LOG_LEVEL                       = var.log_level
    FORWARDED_ALLOW_IPS             = local.alb_subnet_cidrs # the ALB nodes: the app takes the address the ALB appended
    METRICS_EMF_INTERVAL_SECONDS    = "60"                   # one EMF line a minute: the Parlae/PMS metrics the alarms read
    AUDIT_ANCHOR_URL                = "s3://${aws_s3_bucket.audit.id}/${local.audit_anchor_prefix}"
    AUDIT_ANCHOR_KMS_KEY_ID         = aws_kms_key.audit_anchor.arn                             # only the audit-jobs role may use it (audit_anchor.tf)
    SES_SENDER                      = local.staff_email_sender                                 # email.tf
    SES_CONFIGURATION_SET           = aws_sesv2_configuration_set.staff.configuration_set_name # requires TLS
  }

  # Every setting the app reads is named in the task definition: the disabled ones with an empty value, which
  # the app treats as unset (pydantic-settings `env_ignore_empty`).
  container_environment = merge(
    { for name, _ in local.settings_disabled_in_production : name => "" },
    local.container_environment_defaults,
    var.app_environment_overrides,
  )

  # "<secret ARN>:<JSON key>::" = that key of the current version of the system secret.
  container_secrets = {
    SIKKA_APP_ID         = "${aws_secretsmanager_secret.system.arn}:SIKKA_APP_ID::"
    SIKKA_APP_KEY        = "${aws_secretsmanager_secret.system.arn}:SIKKA_APP_KEY::"
    SIKKA_WEBHOOK_SECRET = "${aws_secretsmanager_secret.system.arn}:SIKKA_WEBHOOK_SECRET::"
    DATABASE_URL         = "${aws_secretsmanager_secret.system.arn}:DATABASE_URL::" # postgresql+asyncpg://...?ssl=require
  }

  # Settings production leaves off (passed empty, so the app treats them as unset), each with its reason.
  settings_disabled_in_production = {
    PHI_ENCRYPTION_KEY      = "PHI data keys come from KMS (PHI_KMS_KEY_ID); a static key must not exist in production."
    PHI_ENCRYPTION_OLD_KEYS = "Only for rotating a static PHI_ENCRYPTION_KEY; KMS rotates its key material itself."
    PARLAE_DEMO_TOKEN       = "Demo mode only; the production command does not pass --demo and must hold no demo token."
    AWS_ENDPOINT_URL        = "Only for tests and LocalStack; production uses the regional AWS endpoints."
    AUDIT_ANCHOR_KEY_FILE   = "Tests and development only; production authenticates anchors with the KMS HMAC key (AUDIT_ANCHOR_KMS_KEY_ID)."
  }

  container_definition = {
    name                   = local.container_name
    image                  = var.container_image
    essential              = true
    entryPoint             = local.container_entry_point
    command                = ["serve", "--host", "0.0.0.0", "--port", tostring(local.container_port)]
    readonlyRootFilesystem = true
    privileged             = false
    portMappings = [
      { containerPort = local.container_port, hostPort = local.container_port, protocol = "tcp" },
    ]
    environment = [for name in sort(keys(local.container_environment)) : { name = name, value = local.container_environment[name] }]
    secrets     = [for name in sort(keys(local.container_secrets)) : { name = name, valueFrom = local.container_secrets[name] }]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.app.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "app"
      }
    }
  }
}

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  # ECS Exec stays disabled on the service (PHI); should it ever be enabled, sessions are encrypted and logged.
  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.main.arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.app.name
      }
    }
  }
}

resource "aws_ecs_task_definition" "app" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container_definition])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  lifecycle {
    precondition {
      condition     = length(setsubtract(keys(var.app_environment_overrides), keys(local.container_environment_defaults))) == 0
      error_message = "app_environment_overrides may only override names already in local.container_environment_defaults (secrets and unset settings cannot be set here)."
    }
  }
}

resource "aws_ecs_service" "app" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.main.id
  task_definition                    = aws_ecs_task_definition.app.arn
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  desired_count                      = var.desired_count
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_execute_command             = false
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    # Autoscaling owns the running count after the first apply.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.app_paths, aws_iam_role_policy.execution, aws_iam_role_policy.task]
}

# --- autoscaling -----------------------------------------------------------------------------------------------------

resource "aws_appautoscaling_target" "app" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.app.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.desired_count
  max_capacity       = max(var.max_count, var.desired_count)
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.app.service_namespace
  resource_id        = aws_appautoscaling_target.app.resource_id
  scalable_dimension = aws_appautoscaling_target.app.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling_cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  name               = "${var.name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.app.service_namespace
  resource_id        = aws_appautoscaling_target.app.resource_id
  scalable_dimension = aws_appautoscaling_target.app.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.autoscaling_requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.main.arn_suffix}/${aws_lb_target_group.app.arn_suffix}"
    }
  }
}
