# Audit anchors: every audit_anchor_interval_minutes (10 by default, jobs.tf) `parlae-mcp audit anchor` writes
# each account's audit chain head, MAC'd with an HMAC key in KMS, under anchors/ of the Object Lock audit bucket
# (audit_archive.tf); `parlae-mcp audit verify` checks the chain against them. Only the audit-jobs role (the audit-anchor and audit-verify tasks in jobs.tf) can use the
# key or the prefix; the web service cannot, so a compromised replica cannot forge an anchor.

locals {
  audit_anchor_prefix = "anchors" # AUDIT_ANCHOR_URL (ecs.tf) points here
}

resource "aws_kms_key" "audit_anchor" {
  # checkov:skip=CKV_AWS_7:HMAC keys do not support automatic rotation in KMS; rotating would orphan every earlier anchor's MAC. Replace the key deliberately (docs/deploy.md).
  description              = "${var.name}: HMAC key for audit chain anchors (GenerateMac/VerifyMac)"
  key_usage                = "GENERATE_VERIFY_MAC"
  customer_master_key_spec = "HMAC_256"
  enable_key_rotation      = false
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.kms_audit_anchor.json
}

resource "aws_kms_alias" "audit_anchor" {
  name          = "alias/${var.name}-audit-anchor"
  target_key_id = aws_kms_key.audit_anchor.key_id
}

data "aws_iam_policy_document" "kms_audit_anchor" {
  # checkov:skip=CKV_AWS_109:Key policy: Resource "*" means this key only; administration is granted to the account root (IAM-delegated).
  # checkov:skip=CKV_AWS_111:Key policy: Resource "*" means this key only; its only use is granted to the audit-jobs role.
  # checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only form a key policy accepts, and it means this key.
  source_policy_documents = [data.aws_iam_policy_document.kms_administration.json]

  statement {
    sid    = "AnchorMacsForAuditJobs"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.audit_jobs.arn]
    }
    actions   = ["kms:GenerateMac", "kms:VerifyMac"]
    resources = ["*"]
  }
}

# --- the audit-jobs task role ------------------------------------------------------------------------------------

resource "aws_iam_role" "audit_jobs" {
  name               = "${var.name}-audit-jobs"
  description        = "The ${var.name} audit anchor and audit verify tasks: anchors/ of the audit bucket, the HMAC key"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "audit_jobs" {
  # Anchors are written once (Object Lock keeps every version); read back and listed by audit verify.
  statement {
    sid       = "AnchorsWriteAndRead"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/${local.audit_anchor_prefix}/*"]
  }

  statement {
    sid       = "AnchorsList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.audit_anchor_prefix}/*"]
    }
  }

  statement {
    sid       = "AnchorMacs"
    effect    = "Allow"
    actions   = ["kms:GenerateMac", "kms:VerifyMac"]
    resources = [aws_kms_key.audit_anchor.arn]
  }

  # The bucket's default encryption (SSE-KMS with the main key, bucket key on): S3 asks KMS on the role's behalf.
  statement {
    sid       = "AuditArchiveKeyViaS3"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.audit.arn]
    }
  }
}

resource "aws_iam_role_policy" "audit_jobs" {
  name   = "audit-anchors"
  role   = aws_iam_role.audit_jobs.id
  policy = data.aws_iam_policy_document.audit_jobs.json
}
