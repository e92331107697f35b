# Pinned Terraform and provider versions. Upgrade deliberately: bump here, run `terraform init
# -upgrade`, commit the updated .terraform.lock.hcl.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.40"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # Remote state in a GCS bucket (object versioning on, one prefix per environment). The bucket
  # and prefix come from environments/<env>.backend.hcl:
  #   terraform init -backend-config=environments/dev.backend.hcl
  backend "gcs" {}
}

provider "google" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
  default_labels        = local.labels
}
