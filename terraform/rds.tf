# PostgreSQL 16, Multi-AZ, encrypted with the key, private subnets, reachable from the service only.
# The master password is generated and rotated by RDS in Secrets Manager (encrypted with the key); the app
# connects as its own role with the DATABASE_URL kept in the system secret (docs/deploy.md, first deploy).

resource "aws_db_subnet_group" "main" {
  name        = "${var.name}-db"
  description = "Private subnets for ${var.name}"
  subnet_ids  = var.private_subnet_ids
}

resource "aws_db_parameter_group" "main" {
  name        = "${var.name}-postgres16"
  family      = "postgres16"
  description = "${var.name}: TLS only; connection, DDL and slow-statement logging (no statement text with PHI)"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  # DDL only: logging every statement would copy PHI (bound parameters) into CloudWatch.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "main" {
  # checkov:skip=CKV2_AWS_30:Query logging (log_statement=all) would copy PHI from bound parameters into CloudWatch; DDL, slow statements and connections are logged instead (parameter group).
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = var.db_name
  port           = 5432

  username                      = var.db_master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.main.arn

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.main.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "07:00-08:00"
  maintenance_window        = "sun:08:30-sun:09:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.db_identifier}-final"

  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  enabled_cloudwatch_logs_exports = local.db_log_exports

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7

  monitoring_interval = 60
  monitoring_role_arn = aws_iam_role.rds_monitoring.arn

  # The exported log groups exist first, so they are created encrypted and with our retention.
  depends_on = [aws_cloudwatch_log_group.db]
}
