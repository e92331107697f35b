# Every function the manifest declares, through the reusable module. Nothing here names a
# function: a new manifest entry is a new deployment.

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  project_id     = var.project_id
  region         = var.region
  trigger_region = local.storage_trigger_location
  name           = each.key
  source_dir     = "${path.module}/../${each.value.source}"
  shared_dir     = "${path.module}/../shared"
  runtime        = "python313"
  entry_point    = each.value.entry_point

  trigger_type                  = each.value.trigger_type
  bucket_name                   = each.value.bucket == null ? null : google_storage_bucket.manifest[each.value.bucket].name
  storage_event                 = each.value.events[0]
  trigger_service_account_email = google_service_account.eventarc.email

  source_bucket         = google_storage_bucket.sources.name
  service_account_email = google_service_account.function[each.key].email
  build_service_account = google_service_account.build.id
  docker_repository     = google_artifact_registry_repository.functions.id
  kms_key_name          = var.cmek_functions ? google_kms_crypto_key.functions.id : null
  ingress               = each.value.ingress
  env                   = each.value.env
  secrets               = each.value.secrets
  concurrency           = each.value.concurrency
  memory                = each.value.memory
  cpu                   = each.value.cpu
  timeout_s             = each.value.timeout_s
  min_instances         = each.value.min_instances
  max_instances         = each.value.max_instances
  labels                = merge(local.labels, { function = each.key })

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.function,
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_sources,
    google_kms_crypto_key_iam_member.functions,
    google_project_iam_member.eventarc_receiver,
    google_project_iam_member.gcs_pubsub_publisher,
  ]
}

# Storage events beyond the first (e.g. "deleted" when the function's own trigger is
# "finalized"): a separate Eventarc trigger to the same Cloud Run service, same retry
# semantics (Eventarc retries failed deliveries).
resource "google_eventarc_trigger" "storage_extra" {
  for_each        = local.extra_storage_events
  name            = substr(each.key, 0, 63)
  project         = var.project_id
  location        = local.storage_trigger_location
  service_account = google_service_account.eventarc.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.${each.value.event}"
  }
  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.manifest[local.functions[each.value.function].bucket].name
  }

  destination {
    cloud_run_service {
      service = module.function[each.value.function].service
      region  = var.region
    }
  }

  depends_on = [google_project_iam_member.eventarc_receiver, google_project_iam_member.gcs_pubsub_publisher]
}

# --- build: a dedicated Cloud Build identity, our own image repository, CMEK --------------------

resource "google_service_account" "build" {
  account_id   = "function-build"
  display_name = "Cloud Functions build"
  description  = "Builds the functions' images: reads their sources, writes the image repository, writes build logs."
  project      = var.project_id
}

resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  location      = var.region
  repository_id = "functions"
  format        = "DOCKER"
  description   = "Images built from the functions' sources."
  kms_key_name  = var.cmek_functions ? google_kms_crypto_key.functions.id : null
  labels        = local.labels
  depends_on    = [google_project_service.apis, google_kms_crypto_key_iam_member.functions]

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# The deployer attaches the build identity to every function.
resource "google_service_account_iam_member" "deployer_act_as_build" {
  count              = var.deployer_service_account == "" ? 0 : 1
  service_account_id = google_service_account.build.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${var.deployer_service_account}"
}
