# The bootstrap root module: run once per environment by a human with project owner rights
# (never by CI). It creates what CI must not be able to change about itself: the GitHub
# Workload Identity Federation pool, the deployer and planner identities and their
# project-level roles. State: its own prefix in the environment's state bucket.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.40"
    }
  }

  #   terraform -chdir=terraform/bootstrap init -backend-config=environments/dev.backend.hcl
  backend "gcs" {}
}

provider "google" {
  project               = var.project_id
  user_project_override = true
  billing_project       = var.project_id
}
