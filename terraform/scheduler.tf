# Cloud Scheduler jobs: the manifest schedules, same cron, time zone, topic, body and
# attributes as the local ticker (devstack/ticker.py message_of).

resource "google_cloud_scheduler_job" "this" {
  for_each  = local.schedules
  name      = each.key
  project   = var.project_id
  region    = var.region
  schedule  = each.value.cron
  time_zone = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.this[each.value.topic].id
    data       = each.value.data
    attributes = each.value.attributes
  }

  retry_config {
    retry_count          = 3
    min_backoff_duration = "10s"
    max_backoff_duration = "300s"
  }

  depends_on = [google_project_service.apis]
}
