# Alarms: one SNS topic (encrypted with the ops key) that every alarm notifies, on ALARM and on OK.
#   From the load balancer (AWS/ApplicationELB): 5xx rate, p99 target response time, unhealthy targets.
#   From the service (Parlae/PMS, EMF lines the app prints every METRICS_EMF_INTERVAL_SECONDS, server/emf.py):
#   audit write failures, Sikka error rate, writes left without an owner, staff deliveries dead-lettered, key
#   renewal failures, sync failures.
#   From ECS (EventBridge): a job task (jobs.tf) that exits non-zero or cannot start.
# docs/deploy.md says what each alarm means and what to check first.

locals {
  alarm_topic_name  = "${var.name}-alarms"
  alarm_topic_arn   = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.alarm_topic_name}"
  metrics_namespace = "Parlae/PMS" # server/emf.py NAMESPACE
  alb_dimensions    = { LoadBalancer = aws_lb.main.arn_suffix }
  target_dimensions = { LoadBalancer = aws_lb.main.arn_suffix, TargetGroup = aws_lb_target_group.app.arn_suffix }

  # An open write is handed to staff at its maximum pending age (server/promises.py); one older than that and
  # half an hour, still without a person, means the follower cannot reach it.
  write_unowned_alarm_seconds = tonumber(local.container_environment["WRITEBACK_MAX_PENDING_SECONDS"]) + 1800

  # Alarms on a percentage: query id -> metric of the counts summed per minute, and the expression over them.
  rate_alarms = {
    "alb-5xx-rate" = {
      description = "More than ${var.alarm_5xx_percent}% of requests answered 5xx (by the app or the load balancer) in 3 of 5 minutes."
      threshold   = var.alarm_5xx_percent
      namespace   = "AWS/ApplicationELB"
      dimensions  = local.alb_dimensions
      counts      = { requests = "RequestCount", target_5xx = "HTTPCode_Target_5XX_Count", elb_5xx = "HTTPCode_ELB_5XX_Count" }
      expression  = "IF(requests > 0, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / requests, 0)"
    }
    "sikka-error-rate" = {
      description = "More than ${var.alarm_sikka_error_percent}% of requests to Sikka failed (not 2xx) in 3 of 5 minutes, counting minutes with at least 10 requests."
      threshold   = var.alarm_sikka_error_percent
      namespace   = local.metrics_namespace
      dimensions  = {}
      counts      = { requests = "SikkaRequests", errors = "SikkaErrors" }
      expression  = "IF(requests >= 10, 100 * FILL(errors, 0) / requests, 0)"
    }
  }

  # Alarms on one service metric each: the metric, how it is aggregated, and when it fires.
  service_alarms = {
    "audit-write-failures" = {
      metric      = "AuditWriteFailures"
      statistic   = "Sum"
      period      = 60
      threshold   = 1
      description = "A tool call failed closed because its audit record could not be written (callers got an error, no data)."
    }
    "key-renewal-failures" = {
      metric      = "KeyRenewalFailures"
      statistic   = "Sum"
      period      = 300
      threshold   = 1
      description = "Sikka refused to renew a practice's request key (or did not answer); that practice's calls fail."
    }
    "writes-without-an-owner" = {
      metric      = "WritebacksPendingOldestSeconds"
      statistic   = "Maximum"
      period      = 300
      threshold   = local.write_unowned_alarm_seconds
      description = "A write has been open past its maximum pending age without being handed to staff: the follower cannot reach it."
    }
    "staff-deliveries-dead-lettered" = {
      metric      = "StaffDeliveriesDead"
      statistic   = "Sum"
      period      = 300
      threshold   = 1
      description = "A staff inbox item could not be emailed or posted after every retry (dead-lettered): staff may not know of it."
    }
    "practice-sync-failures" = {
      metric      = "PracticeSyncFailures"
      statistic   = "Sum"
      period      = 300
      threshold   = 1
      description = "A practice sync run failed (new practices are not activated, removed ones not flagged)."
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = local.alarm_topic_name
  kms_master_key_id = aws_kms_key.ops.arn
}

data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid     = "CloudWatchAlarmsOfThisAccount"
    effect  = "Allow"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    resources = [aws_sns_topic.alarms.arn]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid     = "FailedJobRule"
    effect  = "Allow"
    actions = ["sns:Publish"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    resources = [aws_sns_topic.alarms.arn]
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.job_failed.arn]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- rates: ALB 5xx responses, Sikka errors ----------------------------------------------------------------------

# Alarms on a percentage computed from summed counts, above the threshold in 3 of 5 one-minute periods.
resource "aws_cloudwatch_metric_alarm" "rate" {
  for_each = local.rate_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = each.value.expression
    label       = "${each.key} (%)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.counts
    content {
      id = metric_query.key
      metric {
        namespace   = each.value.namespace
        metric_name = metric_query.value
        dimensions  = each.value.dimensions
        stat        = "Sum"
        period      = 60
      }
    }
  }
}

# --- load balancer -------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "target_response_time_p99" {
  alarm_name          = "${var.name}-response-time-p99"
  alarm_description   = "p99 of the app's response time above ${var.alarm_p99_response_seconds} s for 5 minutes (Vapi gives up after 20 s)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.target_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_p99_response_seconds
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "A task has failed the /healthz check for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.target_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# --- the service's own metrics (EMF) -----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "service" {
  for_each = local.service_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = local.metrics_namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# --- jobs: a scheduled or one-off task that exits non-zero or cannot start -----------------------------------------

resource "aws_cloudwatch_event_rule" "job_failed" {
  name        = "${var.name}-job-failed"
  description = "A ${var.name} job task (jobs.tf) stopped with a non-zero exit code or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.main.arn]
      lastStatus = ["STOPPED"]
      group      = [for family in values(local.job_families) : "family:${family}"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "job_failed" {
  rule      = aws_cloudwatch_event_rule.job_failed.name
  target_id = "alarm-topic"
  arn       = aws_sns_topic.alarms.arn

  # A short, PHI-free message: which job, how it stopped, and the task to look up in the logs.
  input_transformer {
    input_paths = {
      group  = "$.detail.group"
      code   = "$.detail.stopCode"
      exit   = "$.detail.containers[0].exitCode"
      reason = "$.detail.stoppedReason"
      task   = "$.detail.taskArn"
    }
    input_template = "\"${var.name} job <group> stopped (<code>, exit code <exit>): <reason>. Task: <task>\""
  }
}
