# Customer-managed keys, each with its own key policy (administration is shared, use is not):
#   main - Secrets Manager, RDS (storage, Performance Insights, the master user secret), CloudWatch Logs, the
#          audit archive bucket and the app's PHI data keys. Rotated yearly by AWS.
#   ops  - what holds no PHI: container images (ECR) and alarm notifications (SNS). Rotated yearly by AWS.
# The audit anchors' HMAC key is in audit_anchor.tf.

resource "aws_kms_key" "main" {
  description             = "${var.name}: secrets, database, logs, audit archive and PHI data keys"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

# Administration only: the account root (and through it IAM admins) can manage a key but not use it directly.
# Every key policy includes this statement (source_policy_documents).
data "aws_iam_policy_document" "kms_administration" {
  # checkov:skip=CKV_AWS_109:Key policy: Resource "*" means the key the policy is attached to; administration is granted to the account root (IAM-delegated).
  # checkov:skip=CKV_AWS_111:Key policy: Resource "*" means the key the policy is attached to; this statement grants no use of the key.
  # checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only form a key policy accepts, and it means that key.
  statement {
    sid    = "KeyAdministrationByAccount"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policy: Resource "*" means this key only; administration is granted to the account root (IAM-delegated).
  # checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only; every use of the key is conditioned (service, caller, context).
  # checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only form a key policy accepts, and it means this key.
  source_policy_documents = [data.aws_iam_policy_document.kms_administration.json]

  # Use through AWS services only: account principals whose IAM policy allows it, via Secrets Manager, RDS or S3.
  statement {
    sid    = "UseViaSecretsManagerRdsAndS3"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "secretsmanager.${local.region}.amazonaws.com",
        "rds.${local.region}.amazonaws.com",
        "s3.${local.region}.amazonaws.com",
      ]
    }
  }

  # RDS keeps a grant on the key for the instance's storage and Performance Insights.
  statement {
    sid    = "RdsGrantsForAwsResources"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["rds.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  # PHI data keys: only the task role, only with the app's encryption context {"app": "parlae-phi"}.
  statement {
    sid    = "PhiDataKeysForTaskRole"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:app"
      values   = ["parlae-phi"]
    }
  }

  # CloudWatch Logs encrypts this deployment's log groups, and only those (encryption-context condition).
  statement {
    sid    = "CloudWatchLogsForOwnLogGroups"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = local.log_group_arns
    }
  }
}

# --- ops key: container images and alarm notifications ----------------------------------------------------------

resource "aws_kms_key" "ops" {
  description             = "${var.name}: container images (ECR) and alarm notifications (SNS); no PHI"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_ops.json
}

resource "aws_kms_alias" "ops" {
  name          = "alias/${var.name}-ops"
  target_key_id = aws_kms_key.ops.key_id
}

data "aws_iam_policy_document" "kms_ops" {
  # checkov:skip=CKV_AWS_109:Key policy: Resource "*" means this key only; administration is granted to the account root (IAM-delegated).
  # checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only; every use of the key is conditioned (service, caller, topic).
  # checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only form a key policy accepts, and it means this key.
  source_policy_documents = [data.aws_iam_policy_document.kms_administration.json]

  # ECR encrypts image layers through a grant it creates (and retires) when the repository is created (deleted).
  statement {
    sid    = "EcrGrantsForRepositories"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions   = ["kms:CreateGrant", "kms:RetireGrant"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ecr.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  # CloudWatch alarms of this account publish to the encrypted alarm topic (SNS encrypts with the topic's context).
  statement {
    sid    = "CloudWatchAlarmsPublishToAlarmTopic"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.alarm_topic_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # EventBridge delivers the failed-job notifications to the same topic (KMS sees no source ARN for EventBridge
  # deliveries, so the topic's encryption context is the condition).
  statement {
    sid    = "EventBridgePublishesToAlarmTopic"
    effect = "Allow"
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.alarm_topic_arn]
    }
  }
}
