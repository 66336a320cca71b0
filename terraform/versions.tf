terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Application        = var.name
        Environment        = var.environment
        DataClassification = "PHI"
        ManagedBy          = "terraform"
      },
      var.tags,
    )
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Log group names are fixed here so the KMS key policy can name them without depending on the groups.
  app_log_group_name = "/ecs/${var.name}"
  waf_log_group_name = "aws-waf-logs-${var.name}" # WAF requires the aws-waf-logs- prefix
  db_identifier      = "${var.name}-db"
  db_log_group_names = [for log in local.db_log_exports : "/aws/rds/instance/${local.db_identifier}/${log}"]
  db_log_exports     = ["postgresql", "upgrade"]
  log_group_arns = [
    for group in concat([local.app_log_group_name, local.waf_log_group_name], local.db_log_group_names) :
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${group}"
  ]

  # The app's per-practice secrets: {prefix}/{accountId}; the task role is limited to this pattern.
  practice_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${var.secrets_prefix}/*"
}
