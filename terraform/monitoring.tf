# Observability: log-based metrics from the functions' structured logs (shared/log.py), alert
# policies, one dashboard, and a budget alert.
#
# Log contract (documented in docs/terraform.md): shared/handler.py logs dead letters with
# jsonPayload.dead_letter=true and jsonPayload.reason; the areas log jsonPayload.event =
# "upload_rejected" | "quota_alert" | "refresh_failed" | "refresh_succeeded". Quota alerts log
# at WARNING (80 %) and ERROR (100 %).

locals {
  function_logs = "resource.type=\"cloud_run_revision\""
  log_metrics = {
    dead_letters = {
      description = "Events dead-lettered by any function (permanent errors)."
      filter      = "${local.function_logs} AND jsonPayload.dead_letter=true"
    }
    rejected_uploads = {
      description = "Uploaded objects the uploads function rejected (bad path, type mismatch, hostile content)."
      filter      = "${local.function_logs} AND jsonPayload.event=\"upload_rejected\""
    }
    quota_alerts = {
      description = "Quota alerts (80 % warnings and 100 % exceeded) published for customers."
      filter      = "${local.function_logs} AND jsonPayload.event=\"quota_alert\""
    }
    quota_exceeded = {
      description = "Quota exceeded alerts (100 %): a customer is being refused."
      filter      = "${local.function_logs} AND jsonPayload.event=\"quota_alert\" AND severity>=ERROR"
    }
    refresh_failures = {
      description = "Derived-table refresh attempts that failed."
      filter      = "${local.function_logs} AND jsonPayload.event=\"refresh_failed\""
    }
    refresh_successes = {
      description = "Derived-table refreshes that succeeded (absence means stale tables)."
      filter      = "${local.function_logs} AND jsonPayload.event=\"refresh_succeeded\""
    }
  }
  notification_channels = [for c in google_monitoring_notification_channel.email : c.id]
}

resource "google_logging_metric" "this" {
  for_each    = local.log_metrics
  name        = "event_plumbing/${each.key}"
  project     = var.project_id
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Function that logged the entry."
    }
  }

  label_extractors = {
    function = "EXTRACT(labels.function)"
  }
}

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alert_emails)
  display_name = "Alerts to ${each.value}"
  project      = var.project_id
  type         = "email"
  labels = {
    email_address = each.value
  }
}

resource "google_monitoring_alert_policy" "function_error_rate" {
  display_name          = "Function error rate above ${var.function_error_rate_threshold * 100} % (${var.environment})"
  project               = var.project_id
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "5xx share of requests per function"
    condition_threshold {
      filter             = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\""
      denominator_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.function_error_rate_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    content   = "A function answers 5xx (transient errors re-raised for retry, or crashes). Check its logs; dead letters are in ops.dead_letters_current."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  display_name          = "Dead-letter backlog (${var.environment})"
  project               = var.project_id
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Messages waiting in a dead-letter subscription"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.labels.subscription_id=one_of(${join(",", [for s in local.dead_letter_subscriptions : "\"${s}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  conditions {
    display_name = "Events dead-lettered by functions"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["dead_letters"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 10
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "Messages could not be processed. Inspect ops.dead_letters_current and the dead-letter topics' subscriptions, fix, then replay."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "stale_refreshes" {
  display_name          = "Stale or failing refreshes (${var.environment})"
  project               = var.project_id
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "No successful refresh"
    condition_absent {
      filter   = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["refresh_successes"].name}\""
      duration = "${min(var.stale_refresh_hours * 3600, 84600)}s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  conditions {
    display_name = "Refresh failures"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["refresh_failures"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "Derived tables are stale or failing: check GET /status of the refresh API and ops refresh_runs."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "quota_exceeded" {
  display_name          = "Customer quota exceeded (${var.environment})"
  project               = var.project_id
  combiner              = "OR"
  notification_channels = local.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Quota exceeded alerts"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["quota_exceeded"].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "A customer hit 100 % of a plan limit and is being refused. See the quota-alerts topic."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_dashboard" "this" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "Event plumbing (${var.environment})"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, w in [
          { title = "Requests per function (5xx vs all)", filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_count\"", group = ["resource.labels.service_name", "metric.labels.response_code_class"], aligner = "ALIGN_RATE" },
          { title = "Request latency p95", filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/request_latencies\"", group = ["resource.labels.service_name"], aligner = "ALIGN_PERCENTILE_95" },
          { title = "Dead letters", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["dead_letters"].name}\"", group = ["metric.labels.function"], aligner = "ALIGN_SUM" },
          { title = "Pub/Sub backlog", filter = "resource.type=\"pubsub_subscription\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\"", group = ["resource.labels.subscription_id"], aligner = "ALIGN_MAX" },
          { title = "Rejected uploads", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["rejected_uploads"].name}\"", group = [], aligner = "ALIGN_SUM" },
          { title = "Quota alerts", filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.this["quota_alerts"].name}\"", group = [], aligner = "ALIGN_SUM" },
          { title = "Refreshes (ok / failed)", filter = "metric.type=starts_with(\"logging.googleapis.com/user/event_plumbing/refresh_\")", group = ["metric.type"], aligner = "ALIGN_SUM" },
          { title = "Instances per function", filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"run.googleapis.com/container/instance_count\"", group = ["resource.labels.service_name"], aligner = "ALIGN_MAX" },
          ] : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = w.title
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = w.filter
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = w.aligner
                      crossSeriesReducer = "REDUCE_SUM"
                      groupByFields      = w.group
                    }
                  }
                }
              }]
            }
          }
        }
      ]
    }
  })
}

resource "google_billing_budget" "this" {
  count           = var.billing_account == "" ? 0 : 1
  billing_account = var.billing_account
  display_name    = "event-plumbing ${var.environment}"

  budget_filter {
    projects = ["projects/${data.google_project.this.number}"]
  }

  amount {
    specified_amount {
      units = tostring(var.monthly_budget)
    }
  }

  dynamic "threshold_rules" {
    for_each = [0.5, 0.9, 1.0]
    content {
      threshold_percent = threshold_rules.value
    }
  }

  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  all_updates_rule {
    monitoring_notification_channels = local.notification_channels
    disable_default_iam_recipients   = false
  }
}
