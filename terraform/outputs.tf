output "alb_dns_name" {
  description = "DNS name of the load balancer; point domain_name at it (CNAME or alias) unless route53_zone_id is set."
  value       = aws_lb.main.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for an alias record."
  value       = aws_lb.main.zone_id
}

output "mcp_url" {
  description = "MCP endpoint to configure in Vapi (POST, Streamable HTTP)."
  value       = "https://${var.domain_name}/mcp"
}

output "webhook_url" {
  description = "Sikka authorization webhook URL to register with Sikka."
  value       = "https://${var.domain_name}/api/sikka/webhook/authorize"
}

output "kms_key_arn" {
  description = "ARN of the customer-managed key (PHI_KMS_KEY_ID and SECRETS_KMS_KEY_ID)."
  value       = aws_kms_key.main.arn
}

output "db_endpoint" {
  description = "RDS endpoint (host:port) for DATABASE_URL."
  value       = aws_db_instance.main.endpoint
}

output "db_address" {
  description = "RDS host name."
  value       = aws_db_instance.main.address
}

output "db_master_user_secret_arn" {
  description = "Secret holding the RDS-managed master credentials (used once, to create the app's role)."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "system_secret_arn" {
  description = "ARN of the system secret; put SIKKA_APP_ID, SIKKA_APP_KEY, SIKKA_WEBHOOK_SECRET and DATABASE_URL into it."
  value       = aws_secretsmanager_secret.system.arn
}

output "practice_secret_arn_pattern" {
  description = "ARN pattern of the per-practice secrets the task role may manage."
  value       = local.practice_secret_arn_pattern
}

output "audit_bucket_name" {
  description = "S3 bucket for exported audit records (Object Lock COMPLIANCE)."
  value       = aws_s3_bucket.audit.id
}

output "logs_bucket_name" {
  description = "S3 bucket with ALB and S3 access logs."
  value       = aws_s3_bucket.logs.id
}

output "app_log_group_name" {
  description = "CloudWatch log group of the app."
  value       = aws_cloudwatch_log_group.app.name
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.app.name
}

output "task_definition_arn" {
  description = "Current task definition of the service."
  value       = aws_ecs_task_definition.app.arn
}

output "job_task_definition_arns" {
  description = "Task definition of each job (db-upgrade, retention-purge, audit-anchor, audit-verify), for one-off runs."
  value       = { for job, definition in aws_ecs_task_definition.job : job => definition.arn }
}

output "service_security_group_id" {
  description = "Security group of the tasks (the only one the database admits)."
  value       = aws_security_group.service.id
}

output "private_subnet_ids" {
  description = "Private subnets the service and its jobs run in (for one-off tasks)."
  value       = var.private_subnet_ids
}

output "run_migrations_command" {
  description = "AWS CLI command that runs `parlae-mcp db upgrade` (the db-upgrade job) as a one-off task; run it before each deploy."
  value = join(" ", [
    "aws ecs run-task",
    "--region ${local.region}",
    "--cluster ${aws_ecs_cluster.main.name}",
    "--launch-type FARGATE",
    "--task-definition ${aws_ecs_task_definition.job["db-upgrade"].arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.private_subnet_ids)}],securityGroups=[${aws_security_group.service.id}],assignPublicIp=DISABLED}'",
  ])
}

output "ecr_repository_url" {
  description = "ECR repository to push images to (immutable tags, scanned on push)."
  value       = aws_ecr_repository.app.repository_url
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm and failed job notifies; subscribe on-call tools here."
  value       = aws_sns_topic.alarms.arn
}

output "audit_anchor_kms_key_arn" {
  description = "HMAC key for audit anchors (AUDIT_ANCHOR_KMS_KEY_ID)."
  value       = aws_kms_key.audit_anchor.arn
}

output "staff_email_dkim_records" {
  description = "CNAME records (name => value) that verify the staff email domain with SES (created in Route 53 when route53_zone_id is set)."
  value = {
    for token in aws_sesv2_email_identity.staff.dkim_signing_attributes[0].tokens :
    "${token}._domainkey.${var.staff_email_domain}" => "${token}.dkim.amazonses.com"
  }
}
