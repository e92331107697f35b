# Cloud Tasks queues of the manifest (`queues`). The refresh area schedules its own delayed
# retries (shared/refresh/retries.py: 3 attempts, 60 s doubling to 3600 s, each attempt a new
# task with its own schedule_time); the queue's retry_config carries the same numbers as a
# backstop for a dispatch that fails (the publish to Pub/Sub answering 5xx).
# A task is an HTTP POST to the Pub/Sub REST publish endpoint of the queue's topic, with an
# OAuth token minted for the queue's own service account (publisher on that topic only).

locals {
  queue_enqueuers = flatten([
    for f in flatten([for fr in local.fragments : try(fr.functions, [])]) : [
      for q in try(f.enqueues, []) : { function = f.name, queue = q }
    ]
  ])
}

resource "google_cloud_tasks_queue" "this" {
  for_each = local.queues
  project  = var.project_id
  location = var.region
  name     = each.key

  retry_config {
    max_attempts  = each.value.max_attempts
    min_backoff   = each.value.min_backoff
    max_backoff   = each.value.max_backoff
    max_doublings = each.value.max_doublings
  }

  rate_limits {
    max_dispatches_per_second = 5
    max_concurrent_dispatches = 5
  }

  depends_on = [google_project_service.apis]
}

# The identity a queue's tasks carry: allowed to publish to the queue's topic, nothing else.
resource "google_service_account" "queue" {
  for_each     = local.queues
  project      = var.project_id
  account_id   = trimsuffix(substr(replace(each.key, "-retries", "-tasks"), 0, 30), "-")
  display_name = "Cloud Tasks ${each.key}"
  description  = "OAuth identity of the ${each.key} tasks (publishes to ${each.value.publishes})."
}

resource "google_pubsub_topic_iam_member" "queue_publisher" {
  for_each = local.queues
  project  = var.project_id
  topic    = google_pubsub_topic.this[each.value.publishes].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.queue[each.key].member
}

# A function that enqueues: may create tasks on that queue and act as its service account.
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = { for e in local.queue_enqueuers : "${e.function}/${e.queue}" => e }
  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.this[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.function[each.value.function].member
}

resource "google_service_account_iam_member" "enqueuer_acts_as_queue" {
  for_each           = { for e in local.queue_enqueuers : "${e.function}/${e.queue}" => e }
  service_account_id = google_service_account.queue[each.value.queue].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function[each.value.function].member
}
