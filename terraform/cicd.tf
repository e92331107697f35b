# Workload Identity Federation for GitHub Actions: the workflow exchanges its OIDC token for
# short-lived credentials of the deployer service account. No key files exist anywhere.
# Bootstrap: the first `terraform apply` of an environment is run by a human (see README);
# afterwards CI deploys as the deployer.

locals {
  wif_enabled    = var.github_repository != ""
  deploy_subject = "repo:${var.github_repository}:environment:${var.environment}"
  plan_subject   = "repo:${var.github_repository}:environment:${var.environment}-plan"
  # What `terraform apply` of this configuration needs, each role the narrowest that covers a
  # resource family here. Never roles/owner or roles/editor.
  deployer_roles = toset([
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudkms.admin",
    "roles/cloudscheduler.admin",
    "roles/eventarc.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/logging.configWriter",
    "roles/monitoring.admin",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])
  # Service accounts the deployer must act as to attach them to functions and triggers.
  deployer_act_as = merge(
    { for name, sa in google_service_account.function : "fn-${name}" => sa.name },
    { eventarc = google_service_account.eventarc.name, push = google_service_account.push.name },
  )
}

resource "google_iam_workload_identity_pool" "github" {
  count                     = local.wif_enabled ? 1 : 0
  project                   = var.project_id
  workload_identity_pool_id = "github-actions"
  display_name              = "GitHub Actions"
  description               = "CI/CD of ${var.github_repository}"
  depends_on                = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:The condition pins assertion.sub to repo:<owner/name>:environment:<env>[-plan]; checkov cannot resolve var.github_repository offline, so tests/unit/terraform asserts the pin instead.
  count                              = local.wif_enabled ? 1 : 0
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"
  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }
  # Only jobs of this repository running in this environment's two GitHub environments
  # ("<env>" deploys, "<env>-plan" plans). GitHub puts the environment in the subject claim
  # when a job declares `environment:`; the environment's protection rules (deployment
  # branches/tags, reviewers) decide which refs may deploy.
  attribute_condition = "assertion.sub == 'repo:${var.github_repository}:environment:${var.environment}' || assertion.sub == 'repo:${var.github_repository}:environment:${var.environment}-plan'"
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  count        = local.wif_enabled ? 1 : 0
  account_id   = "deployer"
  display_name = "Terraform deployer (GitHub Actions)"
  project      = var.project_id
}

resource "google_service_account_iam_member" "deployer_wif" {
  count              = local.wif_enabled ? 1 : 0
  service_account_id = google_service_account.deployer[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/subject/${local.deploy_subject}"
}

# `terraform plan` needs to read, never to change: jobs in the "<env>-plan" GitHub environment
# (no protection rules, so every push can plan) impersonate the planner.
resource "google_service_account" "planner" {
  count        = local.wif_enabled ? 1 : 0
  account_id   = "planner"
  display_name = "Terraform plan (GitHub Actions, read-only)"
  project      = var.project_id
}

resource "google_service_account_iam_member" "planner_wif" {
  count              = local.wif_enabled ? 1 : 0
  service_account_id = google_service_account.planner[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/subject/${local.plan_subject}"
}

resource "google_project_iam_member" "planner" {
  for_each = local.wif_enabled ? toset(["roles/viewer", "roles/iam.securityReviewer"]) : toset([])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.planner[0].member
}

resource "google_project_iam_member" "deployer" {
  for_each = local.wif_enabled ? local.deployer_roles : toset([])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.deployer[0].member
}

resource "google_service_account_iam_member" "deployer_act_as" {
  for_each           = local.wif_enabled ? local.deployer_act_as : {}
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.deployer[0].member
}
