# CloudWatch log groups, all encrypted with the key and kept for var.log_retention_days (>= 365).
# The app logs structured JSON to stdout (awslogs driver); RDS exports its logs here; WAF logs its requests.

resource "aws_cloudwatch_log_group" "app" {
  name              = local.app_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "db" {
  for_each = toset(local.db_log_group_names)

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = local.waf_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
