# The system secret: one JSON document whose keys the task definition injects as environment variables of the
# same names (local.container_secrets in ecs.tf).
# Terraform creates it with empty values and never touches the values again (they are not in the state);
# operators put the real values with `aws secretsmanager put-secret-value` (docs/deploy.md).
#
# The per-practice secrets ({secrets_prefix}/{accountId}) are created at runtime by the app, not here.

resource "aws_secretsmanager_secret" "system" {
  # checkov:skip=CKV2_AWS_57:Sikka issues the app key and webhook secret; no rotation Lambda can mint them. Rotation is a documented manual procedure (docs/deploy.md).
  name                    = var.system_secret_name
  description             = "${var.name}: Sikka app credentials, webhook secret and DATABASE_URL (JSON keys)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30

  lifecycle {
    precondition {
      condition     = !startswith("${var.system_secret_name}/", "${var.secrets_prefix}/")
      error_message = "system_secret_name must not be under secrets_prefix: the app may create and delete secrets there."
    }
  }
}

resource "aws_secretsmanager_secret_version" "system_initial" {
  secret_id = aws_secretsmanager_secret.system.id
  # One empty JSON key per variable the task definition takes from this secret (local.container_secrets).
  secret_string = jsonencode({ for name in keys(local.container_secrets) : name => "" })

  lifecycle {
    # Values are set out of band; Terraform only makes sure every key the task definition references exists.
    ignore_changes = [secret_string, version_stages]
  }
}
