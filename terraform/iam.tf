# Least privilege: one service account per function, holding only what its manifest entry's
# `access` declares, each role bound on the resource itself (dataset, table, topic, bucket,
# secret, key), never project-wide editor/owner/dataEditor. The only project-level roles are
# those Google defines no narrower scope for (BigQuery job creation, Eventarc event receiving,
# the Cloud Storage agent publishing object events); tests/unit/terraform checks the list.

resource "google_service_account" "function" {
  for_each     = local.functions
  account_id   = trimsuffix(substr("fn-${each.key}", 0, 30), "-")
  display_name = "Function ${each.key}"
  description  = "Runtime identity of the ${each.key} function (least privilege, from the resource manifest)."
  project      = var.project_id
}

# Eventarc delivers storage events to the functions as this identity.
resource "google_service_account" "eventarc" {
  account_id   = "eventarc-trigger"
  display_name = "Eventarc storage triggers"
  project      = var.project_id
}

# Pub/Sub push subscriptions sign their OIDC tokens as this identity.
resource "google_service_account" "push" {
  account_id   = "pubsub-push"
  display_name = "Pub/Sub push to functions"
  project      = var.project_id
}

locals {
  grants = {
    storage_read = flatten([for name, f in local.functions : [for b in f.access.storage_read : { function = name, target = b }]])
    publish      = flatten([for name, f in local.functions : [for t in f.access.publish : { function = name, target = t }]])
    secrets      = flatten([for name, f in local.functions : [for env, id in f.secrets : { function = name, target = id }]])
  }
  bigquery_users = toset([
    for name, f in local.functions : name if length(f.access.bigquery_write) + length(f.access.bigquery_read) > 0
  ])
}

# Dataset read/write for functions: access blocks of google_bigquery_dataset.this (bigquery.tf),
# from the same manifest lists (a dataset_iam_member here would fight those blocks).

# Every function dead-letters through shared/handler.py into the dead_letters table: table-level
# write access only, whatever else it may touch.
resource "google_bigquery_table_iam_member" "dead_letters" {
  for_each   = contains(keys(local.tables), "dead_letters") ? toset(keys(local.functions)) : toset([])
  project    = var.project_id
  dataset_id = google_bigquery_table.this["dead_letters"].dataset_id
  table_id   = google_bigquery_table.this["dead_letters"].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.function[each.key].member
}

# Running a query or load job is a project-level permission in BigQuery (no narrower scope).
resource "google_project_iam_member" "bigquery_job_user" {
  for_each = local.bigquery_users
  project  = var.project_id
  role     = "roles/bigquery.jobUser"
  member   = google_service_account.function[each.key].member
}

resource "google_storage_bucket_iam_member" "read" {
  for_each = { for g in local.grants.storage_read : "${g.function}/${g.target}" => g }
  bucket   = google_storage_bucket.manifest[each.value.target].name
  role     = "roles/storage.objectViewer"
  member   = google_service_account.function[each.value.function].member
}

resource "google_pubsub_topic_iam_member" "publish" {
  for_each = { for g in local.grants.publish : "${g.function}/${g.target}" => g }
  project  = var.project_id
  topic    = google_pubsub_topic.this[each.value.target].name
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.function].member
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each  = { for g in local.grants.secrets : "${g.function}/${g.target}" => g }
  project   = var.project_id
  secret_id = google_secret_manager_secret.function[each.value.target].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}

# Encrypt only: the one holder (quota-api, POST /credentials) seals credentials and no route
# returns them. A function that opens them would need its own decrypter grant.
resource "google_kms_crypto_key_iam_member" "customer_credentials" {
  for_each      = { for name, f in local.functions : name => f if f.access.kms }
  crypto_key_id = google_kms_crypto_key.customer_credentials.id
  role          = "roles/cloudkms.cryptoKeyEncrypter"
  member        = google_service_account.function[each.key].member
}

# --- invocation -----------------------------------------------------------------------------

resource "google_project_iam_member" "eventarc_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.eventarc.member
}

# Cloud Storage publishes object events to Eventarc's Pub/Sub transport as its service agent.
resource "google_project_iam_member" "gcs_pubsub_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_cloud_run_v2_service_iam_member" "eventarc_invoker" {
  for_each = { for name, f in local.functions : name => f if f.trigger_type == "storage" }
  project  = var.project_id
  location = var.region
  name     = module.function[each.key].service
  role     = "roles/run.invoker"
  member   = google_service_account.eventarc.member
}

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = { for name, f in local.functions : name => f if f.trigger_type == "pubsub" }
  project  = var.project_id
  location = var.region
  name     = module.function[each.key].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# Pub/Sub mints the push OIDC tokens as the push service account.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_cloud_run_v2_service_iam_member" "http_invoker" {
  for_each = {
    for pair in flatten([
      for name, f in local.functions : [
        for member in lookup(var.http_invokers, name, []) : { function = name, member = member }
      ] if f.trigger_type == "http"
    ]) : "${pair.function}/${pair.member}" => pair
  }
  project  = var.project_id
  location = var.region
  name     = module.function[each.value.function].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Cloud Scheduler publishes to topics as its service agent (default Pub/Sub target behaviour);
# no extra grant is needed for pubsub_target jobs.
