# Topics and subscriptions from the manifest. Push subscriptions (manifest `push_function`)
# deliver to the function's URL with an OIDC token, exactly as the local stack pushes to
# functions-framework; the topic goes in the URL path because functions-framework builds the
# CloudEvent source from it.

resource "google_pubsub_topic" "this" {
  #checkov:skip=CKV_GCP_83:Messages are transient (7-day retention) and carry no secrets; Google-managed encryption avoids a KMS call per publish/pull (cost, latency, quota) on the hot path.
  for_each                   = local.topics
  name                       = each.key
  project                    = var.project_id
  labels                     = merge(local.labels, each.value.labels)
  message_retention_duration = each.value.retention
  depends_on                 = [google_project_service.apis]
}

resource "google_pubsub_subscription" "this" {
  for_each                     = local.subscriptions
  name                         = each.key
  project                      = var.project_id
  topic                        = google_pubsub_topic.this[each.value.topic].id
  ack_deadline_seconds         = each.value.ack_deadline_seconds
  filter                       = each.value.filter
  enable_message_ordering      = each.value.ordering
  message_retention_duration   = "604800s"
  retain_acked_messages        = false
  enable_exactly_once_delivery = false
  labels                       = local.labels

  expiration_policy {
    ttl = "" # never expire
  }

  retry_policy {
    minimum_backoff = each.value.min_backoff
    maximum_backoff = each.value.max_backoff
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter_topic == null ? [] : [each.value.dead_letter_topic]
    content {
      dead_letter_topic     = google_pubsub_topic.this[dead_letter_policy.value].id
      max_delivery_attempts = each.value.max_delivery_attempts
    }
  }

  dynamic "push_config" {
    for_each = each.value.push_function == null ? [] : [each.value.push_function]
    content {
      push_endpoint = "${module.function[push_config.value].uri}/projects/${var.project_id}/topics/${each.value.topic}"
      oidc_token {
        service_account_email = google_service_account.push.email
        audience              = module.function[push_config.value].uri
      }
    }
  }
}

# Keeps dead-lettered messages for inspection and replay (a topic without a subscription drops
# them) on the dead-letter topics whose fragment declares no subscription (manifest.tf); the
# backlog of every dead-letter subscription is alerted on in monitoring.tf.
resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each                   = local.hold_subscriptions
  name                       = each.key
  project                    = var.project_id
  topic                      = google_pubsub_topic.this[each.value].id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  labels                     = local.labels

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards undeliverable messages: it must publish to each
# dead-letter topic and acknowledge on each subscription that dead-letters.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_topics
  project  = var.project_id
  topic    = google_pubsub_topic.this[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = { for name, s in local.subscriptions : name => s if s.dead_letter_topic != null }
  project      = var.project_id
  subscription = google_pubsub_subscription.this[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
