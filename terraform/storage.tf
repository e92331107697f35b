# Buckets: every bucket the manifest declares (uploads), the function-source bucket and the
# access-log bucket. All: uniform bucket-level access, public access prevention enforced,
# versioning, CMEK, access logs.

resource "google_storage_bucket" "logs" {
  #checkov:skip=CKV_GCP_62:This is the access-log sink itself; logging it into itself would loop.
  name                        = "${var.project_id}-access-logs"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.storage.id
  }

  lifecycle_rule {
    condition {
      age = var.log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_storage_key]
}

# Cloud Storage writes usage/access logs as this group.
resource "google_storage_bucket_iam_member" "logs_writer" {
  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

# Disaster recovery for the manifest buckets (docs/runbooks.md): object versioning (a deleted or
# overwritten object stays restorable as a noncurrent version for var.noncurrent_version_days),
# soft delete (var.soft_delete_days, also covers a deleted bucket's objects) and, with
# var.bucket_replication (prod), a dual-region bucket with optional turbo replication
# (RPO 15 min) so a regional outage loses nothing.
locals {
  manifest_bucket_location = var.bucket_replication == null ? var.region : var.bucket_replication.location
  # Eventarc takes a bucket's events only in the bucket's own location: its region, or the
  # multi-region of a dual-region bucket ("eu"), never the functions' region then (the API:
  # 'Bucket location "eu" does not match trigger location "europe-west1"').
  storage_trigger_location = lower(local.manifest_bucket_location)
}

resource "google_storage_bucket" "manifest" {
  for_each                    = local.buckets
  name                        = each.value.name
  project                     = var.project_id
  location                    = local.manifest_bucket_location
  rpo                         = var.bucket_replication == null ? null : (var.bucket_replication.turbo ? "ASYNC_TURBO" : "DEFAULT")
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = merge(local.labels, each.value.labels)

  dynamic "custom_placement_config" {
    for_each = var.bucket_replication == null ? [] : [var.bucket_replication.data_locations]
    content {
      data_locations = custom_placement_config.value
    }
  }

  versioning {
    enabled = true # every manifest bucket: DR needs the noncurrent versions
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }

  encryption {
    default_kms_key_name = local.manifest_bucket_key
  }

  logging {
    log_bucket        = google_storage_bucket.logs.name
    log_object_prefix = each.value.name
  }

  dynamic "cors" {
    for_each = length(var.cors_origins) > 0 ? [1] : []
    content {
      origin          = var.cors_origins
      method          = ["PUT", "POST", "GET", "HEAD"]
      response_header = ["Content-Type", "Content-MD5", "x-goog-resumable", "x-goog-meta-*"]
      max_age_seconds = 3600
    }
  }

  # Lifecycle by media class, from the bucket's manifest entry (manifest.tf media_lifecycle).
  dynamic "lifecycle_rule" {
    for_each = each.value.media_lifecycle
    content {
      condition {
        age                   = lifecycle_rule.value.age
        matches_suffix        = lifecycle_rule.value.suffixes
        matches_storage_class = lifecycle_rule.value.from
        with_state            = "LIVE"
      }
      action {
        type          = "SetStorageClass"
        storage_class = lifecycle_rule.value.storage_class
      }
    }
  }

  # Old versions (overwritten or deleted objects) are removed after a grace period.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_storage_key, google_kms_crypto_key_iam_member.gcs_storage_replicated]
}

resource "google_storage_bucket" "sources" {
  name                        = "${var.project_id}-function-sources"
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  encryption {
    default_kms_key_name = google_kms_crypto_key.storage.id
  }

  logging {
    log_bucket        = google_storage_bucket.logs.name
    log_object_prefix = "function-sources"
  }

  # Archives are content-addressed; only recent ones are needed for rollbacks.
  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_kms_crypto_key_iam_member.gcs_storage_key]
}
