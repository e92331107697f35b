# KMS: one key ring per environment, a key per purpose (rotated every 90 days, never
# destroyed by Terraform). Secret Manager: one secret per secret env var any function reads
# (webhook signing keys, notification keys). Terraform creates the secrets, never their values:
# add versions out of band (`gcloud secrets versions add ID --data-file=-`), so no secret ever
# lands in the state file.

resource "google_kms_key_ring" "this" {
  name       = "event-plumbing-${var.environment}"
  project    = var.project_id
  location   = var.region
  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "storage" {
  name            = "storage"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  lifecycle {
    prevent_destroy = true
  }
}

# A CMEK key must live where the data it protects lives, and Cloud KMS names the
# multi-regions its own way: BigQuery's and Cloud Storage's "EU" is KMS's "europe", "US" is "us"
# (KMS has no "eu"). A region keeps its name, in lower case.
locals {
  kms_multi_regions       = { EU = "europe", US = "us", ASIA = "asia" }
  bigquery_key_location   = lookup(local.kms_multi_regions, upper(var.bigquery_location), lower(var.bigquery_location))
  replicated_key_location = var.bucket_replication == null ? null : lookup(local.kms_multi_regions, upper(var.bucket_replication.location), lower(var.bucket_replication.location))
  data_key_locations      = toset([for l in [local.bigquery_key_location, local.replicated_key_location] : l if l != null && l != var.region])
}

# One more key ring per location a data key needs beyond var.region (prod: "europe").
resource "google_kms_key_ring" "data" {
  for_each   = local.data_key_locations
  name       = "event-plumbing-${var.environment}-${each.key}"
  project    = var.project_id
  location   = each.key
  depends_on = [google_project_service.apis]
}

resource "google_kms_crypto_key" "bigquery" {
  name            = "bigquery"
  key_ring        = local.bigquery_key_location == var.region ? google_kms_key_ring.this.id : google_kms_key_ring.data[local.bigquery_key_location].id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  lifecycle {
    prevent_destroy = true
  }
}

# Envelope key for customer credentials (cloud credentials stored per customer): functions
# whose manifest entry says access.kms = true may encrypt with it (iam.tf), nobody else.
resource "google_kms_crypto_key" "customer_credentials" {
  name            = "customer-credentials"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  lifecycle {
    prevent_destroy = true
  }
}

# Function sources, images and the running service's data (var.cmek_functions): the agents
# of Cloud Functions, Artifact Registry, Cloud Run and Cloud Storage use it.
resource "google_kms_crypto_key" "functions" {
  name            = "functions"
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "functions" {
  for_each = var.cmek_functions ? {
    functions         = "serviceAccount:service-${data.google_project.this.number}@gcf-admin-robot.iam.gserviceaccount.com"
    artifact_registry = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    cloud_run         = "serviceAccount:service-${data.google_project.this.number}@serverless-robot-prod.iam.gserviceaccount.com"
    storage           = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
  } : {}
  crypto_key_id = google_kms_crypto_key.functions.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}

# A dual-region bucket needs its CMEK key in the KMS multi-region that holds it ("europe" for
# EU), so the replicated buckets have a storage key of their own there.
resource "google_kms_crypto_key" "storage_replicated" {
  count           = var.bucket_replication == null ? 0 : 1
  name            = "storage"
  key_ring        = google_kms_key_ring.data[local.replicated_key_location].id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "gcs_storage_replicated" {
  count         = var.bucket_replication == null ? 0 : 1
  crypto_key_id = google_kms_crypto_key.storage_replicated[0].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

locals {
  manifest_bucket_key = var.bucket_replication == null ? google_kms_crypto_key.storage.id : google_kms_crypto_key.storage_replicated[0].id
}

resource "google_kms_crypto_key_iam_member" "gcs_storage_key" {
  crypto_key_id = google_kms_crypto_key.storage.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_kms_crypto_key_iam_member" "bq_key" {
  crypto_key_id = google_kms_crypto_key.bigquery.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${data.google_bigquery_default_service_account.bq.email}"
}

resource "google_secret_manager_secret" "function" {
  for_each  = toset(values(local.secrets))
  secret_id = each.value
  project   = var.project_id
  labels    = local.labels

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}
