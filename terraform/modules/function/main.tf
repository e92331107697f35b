# One Cloud Function (gen2, python313) built from its folder plus the shared/ package.

locals {
  # The archive: functions/<dir>/** at the root (main.py, requirements.txt) and shared/** under
  # shared/, so `from shared import ...` works in the cloud exactly as it does locally. Every
  # file is text (Python, JSON schemas, SQL), which file() requires.
  skip = "/(__pycache__|\\.pytest_cache|\\.mypy_cache)/|\\.pyc$"
  function_files = {
    for f in fileset(var.source_dir, "**") : f => "${var.source_dir}/${f}" if length(regexall(local.skip, "/${f}")) == 0
  }
  shared_files = {
    for f in fileset(var.shared_dir, "**") : "shared/${f}" => "${var.shared_dir}/${f}" if length(regexall(local.skip, "/${f}")) == 0
  }
  files = merge(local.shared_files, local.function_files)
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.root}/build/${var.name}.zip"

  dynamic "source" {
    for_each = local.files
    content {
      filename = source.key
      content  = file(source.value)
    }
  }
}

resource "google_storage_bucket_object" "source" {
  # Content-addressed name: a code change makes a new object and so a new build.
  name   = "${var.name}/${data.archive_file.source.output_sha256}.zip"
  bucket = var.source_bucket
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:Ingress comes from the manifest: event functions are internal-only; HTTP ones answer third-party webhook senders and API clients on the internet, authenticated (IAM invoker, signatures, API keys), or sit behind the load balancer with var.http_behind_load_balancer.
  name         = var.name
  location     = var.region
  project      = var.project_id
  labels       = var.labels
  kms_key_name = var.kms_key_name

  build_config {
    runtime     = var.runtime
    entry_point = var.entry_point
    # Built by a dedicated identity (not the default Cloud Build / compute account) into our
    # own Artifact Registry repository, CMEK-encrypted when kms_key_name is set.
    service_account   = var.build_service_account
    docker_repository = var.docker_repository
    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory
    available_cpu                    = var.cpu
    timeout_seconds                  = var.timeout_s
    min_instance_count               = var.min_instances
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = var.concurrency
    service_account_email            = var.service_account_email
    all_traffic_on_latest_revision   = true
    # From the manifest entry (functions.tf): event and push-triggered functions take traffic
    # from Google only; HTTP APIs from anywhere (with an authorised identity) or only through
    # the project's load balancer.
    ingress_settings      = var.ingress
    environment_variables = var.env

    dynamic "secret_environment_variables" {
      for_each = var.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = var.trigger_type == "storage" ? [1] : []
    content {
      trigger_region        = var.trigger_region
      event_type            = "google.cloud.storage.object.v1.${var.storage_event}"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = var.trigger_service_account_email
      event_filters {
        attribute = "bucket"
        value     = var.bucket_name
      }
    }
  }
}
