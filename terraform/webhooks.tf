# The webhook receiver's replay guard (shared/webhooks/replay_guard.py) records one document
# per GitHub / Shopify delivery in `webhook_deliveries`; a TTL policy deletes each 30 days
# after it was written (`expires_at`), so the collection does not grow without bound. Only
# document ids are looked up: no single-field index on `expires_at` is needed.
resource "google_firestore_field" "webhook_deliveries_ttl" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "webhook_deliveries"
  field      = "expires_at"

  ttl_config {}

  index_config {}
}
