# ---------------------------------------------------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------------------------------------------------

variable "name" {
  description = "Name prefix for every resource (cluster, service, key alias, buckets, log groups)."
  type        = string
  default     = "parlae-mcp"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,22}[a-z0-9]$", var.name))
    error_message = "name must be 4-24 characters of lower-case letters, digits and hyphens (bucket and ALB name limits)."
  }
}

variable "environment" {
  description = "Environment tag value (production, staging, ...)."
  type        = string
  default     = "production"
}

variable "aws_region" {
  description = "AWS region to deploy into; also passed to the app as AWS_REGION."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags applied to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------------------------------
# Network (an existing VPC: this module does not build one)
# ---------------------------------------------------------------------------------------------------------------------

variable "vpc_id" {
  description = "ID of the existing VPC."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two AZs, with NAT or VPC endpoints for AWS APIs and Sikka) for tasks and RDS."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets in different AZs (Multi-AZ RDS, spread tasks)."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two AZs) for the internet-facing load balancer."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids needs at least two subnets in different AZs (an ALB requires two)."
  }
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the load balancer. Vapi and Sikka call from the internet, hence the default."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# ---------------------------------------------------------------------------------------------------------------------
# Public endpoint
# ---------------------------------------------------------------------------------------------------------------------

variable "domain_name" {
  description = "Public DNS name of the service (e.g. mcp.example.com); the certificate must cover it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name without scheme or port."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate for domain_name, used by the HTTPS listener (required)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "route53_zone_id" {
  description = "Optional Route 53 hosted zone ID; when set, an alias record domain_name -> ALB is created."
  type        = string
  default     = null
}

variable "public_path_patterns" {
  description = "Paths the ALB forwards to the service (everything else gets 404 at the edge, e.g. /metrics). At most 5."
  type        = list(string)
  default     = ["/mcp", "/mcp/", "/api/sikka/webhook/*", "/healthz", "/readyz"]

  validation {
    condition     = length(var.public_path_patterns) >= 1 && length(var.public_path_patterns) <= 5
    error_message = "An ALB path-pattern condition takes 1 to 5 values."
  }
}

variable "waf_rate_limit_per_5_minutes" {
  description = "WAF rate-based rule: requests per client IP per 5 minutes before it is blocked."
  type        = number
  default     = 3000

  validation {
    condition     = var.waf_rate_limit_per_5_minutes >= 100
    error_message = "The WAF rate limit must be at least 100 (the AWS minimum)."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Service (ECS Fargate)
# ---------------------------------------------------------------------------------------------------------------------

variable "container_image" {
  description = "Container image of the app, pinned by digest or immutable tag (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/parlae-mcp@sha256:...)."
  type        = string

  validation {
    condition     = !endswith(var.container_image, ":latest") && length(var.container_image) > 0
    error_message = "container_image must be pinned (a digest or an immutable tag), not :latest."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "task_cpu" {
  description = "Fargate task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Fargate task memory in MiB (must be valid for task_cpu)."
  type        = number
  default     = 1024
}

variable "desired_count" {
  description = "Number of stateless replicas at rest; also the autoscaling minimum. At least 2 (one per AZ)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 2 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number >= 2: production runs several replicas."
  }
}

variable "max_count" {
  description = "Autoscaling maximum number of tasks. Mind the DB connection budget (see docs/deploy.md)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_count >= 2 && floor(var.max_count) == var.max_count
    error_message = "max_count must be a whole number >= 2."
  }
}

variable "autoscaling_cpu_target_percent" {
  description = "Target average CPU utilisation (%) for the CPU target-tracking policy."
  type        = number
  default     = 60

  validation {
    condition     = var.autoscaling_cpu_target_percent > 10 && var.autoscaling_cpu_target_percent <= 90
    error_message = "autoscaling_cpu_target_percent must be in (10, 90]."
  }
}

variable "autoscaling_requests_per_target" {
  description = "Target ALB requests per task per minute for the request-count target-tracking policy."
  type        = number
  default     = 600

  validation {
    condition     = var.autoscaling_requests_per_target > 0
    error_message = "autoscaling_requests_per_target must be positive."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# App configuration (environment of the task; see the README's configuration table)
# ---------------------------------------------------------------------------------------------------------------------

variable "secrets_prefix" {
  description = "Secrets Manager name prefix of the per-practice secrets (SECRETS_PREFIX); the task role is scoped to it."
  type        = string
  default     = "parlae/pms/sikka"

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*$", var.secrets_prefix))
    error_message = "secrets_prefix must be a non-empty path with no leading/trailing slash, spaces or wildcards."
  }
}

variable "system_secret_name" {
  description = "Name of the system secret (Sikka app credentials, webhook secret, DATABASE_URL). Must not be under secrets_prefix."
  type        = string
  default     = "parlae/mcp/system"
}

variable "sikka_api_url" {
  description = "SIKKA_API_URL: Sikka v4 base URL (https)."
  type        = string
  default     = "https://api.sikkasoft.com/v4"

  validation {
    condition     = startswith(var.sikka_api_url, "https://")
    error_message = "sikka_api_url must use https://."
  }
}

variable "staff_email_domain" {
  description = "Domain the staff inbox emails come from (an SES domain identity this module creates; publish its DKIM records)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.staff_email_domain))
    error_message = "staff_email_domain must be a lower-case DNS name."
  }
}

variable "staff_email_local_part" {
  description = "The part before @ of the staff inbox emails' From address."
  type        = string
  default     = "assistant"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{0,63}$", var.staff_email_local_part))
    error_message = "staff_email_local_part must be 1-64 lower-case letters, digits, dots, hyphens or underscores."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the app."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "app_environment_overrides" {
  description = "Override values of the plain environment variables set in ecs.tf (e.g. SIKKA_DEADLINE_SECONDS). Only existing names; secrets cannot be overridden here."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------------------------------
# Database (RDS PostgreSQL)
# ---------------------------------------------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "PostgreSQL engine version (major 16; minor versions are upgraded automatically)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 16 (\"16\" or \"16.x\"); the parameter group family is postgres16."
  }
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "db_allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 500
}

variable "db_name" {
  description = "Name of the database created on the instance."
  type        = string
  default     = "parlae"
}

variable "db_master_username" {
  description = "Master user name (its password is generated and rotated by RDS in Secrets Manager). The app uses its own role."
  type        = string
  default     = "parlae_admin"
}

variable "db_backup_retention_days" {
  description = "Automated backup retention in days (7-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Logs and audit archive
# ---------------------------------------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "CloudWatch Logs retention in days for the app, WAF and database log groups (at least 365)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least 365 (365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "audit_object_lock_days" {
  description = "Object Lock (COMPLIANCE) retention of audit archive objects, in days. HIPAA asks for six years (2192 days)."
  type        = number
  default     = 2192

  validation {
    condition     = var.audit_object_lock_days >= 2192
    error_message = "audit_object_lock_days must be at least 2192 (six years, 45 CFR 164.316(b)(2))."
  }
}

variable "audit_anchor_interval_minutes" {
  description = "Minutes between audit anchor runs. Records written since the last anchor are protected by the hash chain alone: this is the window in which a database writer could cut a chain's tail unnoticed (docs/hipaa.md)."
  type        = number
  default     = 10

  validation {
    condition     = var.audit_anchor_interval_minutes >= 5 && var.audit_anchor_interval_minutes <= 60 && floor(var.audit_anchor_interval_minutes) == var.audit_anchor_interval_minutes
    error_message = "audit_anchor_interval_minutes must be a whole number of minutes from 5 to 60."
  }
}

variable "alb_log_retention_days" {
  description = "Days to keep ALB and S3 access logs in the log bucket."
  type        = number
  default     = 400

  validation {
    condition     = var.alb_log_retention_days >= 365
    error_message = "alb_log_retention_days must be at least 365."
  }
}

# ---------------------------------------------------------------------------------------------------------------------
# Image registry and alarms
# ---------------------------------------------------------------------------------------------------------------------

variable "ecr_keep_images" {
  description = "How many of the newest images the ECR lifecycle policy keeps (the running release and those to roll back to)."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 5 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number >= 5 (rollbacks need earlier images)."
  }
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription). Other subscribers (PagerDuty, chat) can subscribe to the alarm_topic_arn output."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alarm_email_addresses : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "alarm_email_addresses must be email addresses."
  }
}

variable "alarm_5xx_percent" {
  description = "ALB 5xx alarm: share of requests answered 5xx (app or load balancer), in percent."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_5xx_percent > 0 && var.alarm_5xx_percent < 100
    error_message = "alarm_5xx_percent must be in (0, 100)."
  }
}

variable "alarm_p99_response_seconds" {
  description = "Response time alarm: p99 of the app's response time, in seconds (Vapi waits 20 s for a tool)."
  type        = number
  default     = 10

  validation {
    condition     = var.alarm_p99_response_seconds > 0 && var.alarm_p99_response_seconds < 20
    error_message = "alarm_p99_response_seconds must be in (0, 20): Vapi gives up on a tool after 20 s."
  }
}

variable "alarm_sikka_error_percent" {
  description = "Sikka error rate alarm: share of requests to Sikka that were not 2xx, in percent."
  type        = number
  default     = 25

  validation {
    condition     = var.alarm_sikka_error_percent > 0 && var.alarm_sikka_error_percent < 100
    error_message = "alarm_sikka_error_percent must be in (0, 100)."
  }
}
