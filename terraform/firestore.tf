# Firestore (native mode): the transactional state of quotas (customer limits, leases, day
# counters, alert markers, the usage-event outbox) and the API keys of every HTTP function
# (shared/api_keys.py). BigQuery keeps the record; see docs/quotas.md.
#
# Every write the code makes is a lock-free increment, precondition write or create(), so
# OPTIMISTIC concurrency costs nothing and keeps a stray transaction from taking locks on a hot
# document. The queries are single-field filters served by the automatic single-field indexes,
# and equality filters (merged from them), but for one: a customer's held leases
# (customer_id == and lease_expires_at <=), which needs the composite index below.

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  depends_on                        = [google_project_service.apis]
}

# Firestore has no per-collection IAM: roles/datastore.user is granted on the project, but
# conditioned to this one database, and only to functions whose manifest entry says
# access.firestore = true.
resource "google_project_iam_member" "firestore_user" {
  for_each = { for name, f in local.functions : name => f if f.access.firestore }
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = google_service_account.function[each.key].member

  condition {
    title       = "only-the-default-database"
    description = "Firestore access limited to the product's database."
    expression  = "resource.name.startsWith(\"projects/${var.project_id}/databases/(default)\")"
  }
}

# The quotas' packed fields (shared/quotas/store.py PACKED_FIELDS): each holds a whole map as
# one JSON string that is rewritten on every commit and never queried. An empty index_config
# exempts it from the automatic single-field index (no index entry written per commit, and no
# 1,500-byte index truncation to pay for on a long string).
resource "google_firestore_field" "packed" {
  for_each   = toset(["quota_outbox/rows"])
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = split("/", each.key)[0]
  field      = split("/", each.key)[1]

  index_config {}
}

# A customer's held leases, expired or not (shared/quotas/store.py RUN_LEASE_INDEX): the
# reclaim after a concurrency refusal and the usage report query them.
resource "google_firestore_index" "run_leases" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "quota_runs"

  fields {
    field_path = "customer_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "lease_expires_at"
    order      = "ASCENDING"
  }
}

# Firestore deletes a document of these collections some time after its expire_at
# (shared/quotas/store.py TTL_FIELD, TTL_COLLECTIONS): an admitted run's document (its
# idempotency key), which every change of the run pushes on, and a day's tickets, 35 days
# after the day. Nothing queries expire_at, so it is exempt from the single-field index too.
resource "google_firestore_field" "ttl" {
  for_each   = toset(["quota_runs", "quota_tickets"])
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.key
  field      = "expire_at"

  index_config {}
  ttl_config {}
}

moved {
  from = google_firestore_field.run_ttl
  to   = google_firestore_field.ttl["quota_runs"]
}
