# Who may change the environment, and how much.
#
# - The deployer (GitHub environment "<env>", protected) applies the main configuration. It
#   holds the admin role of each service the configuration manages, but may grant at project
#   level ONLY the roles listed in local.deployer_grantable_roles: its projectIamAdmin is bound
#   with an IAM condition on iam.googleapis.com/modifiedGrantsByRole. It cannot make itself
#   owner, cannot change this bootstrap (the pool, its own roles) and cannot grant roles/viewer.
# - The planner (GitHub environment "<env>-plan", any branch) runs `terraform plan`: metadata
#   only. No roles/viewer (project viewers read every dataset without access blocks) and no
#   data roles: BigQuery metadataViewer, a custom bucket-metadata role, the services' viewer
#   roles. tests/unit/terraform and terraform/checks/policies enforce both rules.

locals {
  deploy_subject = "repo:${var.github_repository}:environment:${var.environment}"
  plan_subject   = "repo:${var.github_repository}:environment:${var.environment}-plan"
  # prod is planned only from protected refs (main, release tags), although its planner reads
  # metadata only: a branch push cannot even list prod's configuration.
  plan_ref_condition = var.environment == "prod" ? " && (assertion.ref == 'refs/heads/main' || assertion.ref.startsWith('refs/tags/v'))" : ""

  # The admin role of each resource family the main configuration manages. Never owner/editor,
  # never unconditioned projectIamAdmin, never workloadIdentityPoolAdmin (the pool is here).
  deployer_roles = toset([
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudkms.admin",
    "roles/cloudscheduler.admin",
    "roles/cloudtasks.admin",
    "roles/datastore.owner",
    "roles/eventarc.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/logging.configWriter",
    "roles/monitoring.admin",
    "roles/pubsub.admin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])

  # Exactly the roles the main configuration grants with google_project_iam_member (a test
  # compares the two lists): BigQuery job creation for the functions, Eventarc event receiving,
  # the Cloud Storage agent publishing object events, the build identity writing its logs,
  # Firestore use (conditioned to the one database) for the functions that declare it.
  deployer_grantable_roles = [
    "roles/bigquery.jobUser",
    "roles/datastore.user",
    "roles/eventarc.eventReceiver",
    "roles/logging.logWriter",
    "roles/pubsub.publisher",
  ]

  # Read metadata, never data: no roles/viewer, bigquery.dataViewer, storage.objectViewer,
  # pubsub.subscriber, secretmanager.secretAccessor, datastore.viewer.
  planner_roles = toset([
    "roles/bigquery.metadataViewer",
    "roles/browser",
    "roles/cloudfunctions.viewer",
    "roles/cloudkms.viewer",
    "roles/cloudscheduler.viewer",
    "roles/cloudtasks.viewer",
    "roles/eventarc.viewer",
    "roles/iam.securityReviewer",
    "roles/iam.serviceAccountViewer",
    "roles/logging.viewer",
    "roles/monitoring.viewer",
    "roles/pubsub.viewer",
    "roles/run.viewer",
    "roles/secretmanager.viewer",
    "roles/serviceusage.serviceUsageViewer",
  ])
}

resource "google_project_service" "bootstrap" {
  for_each           = toset(["iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com", "cloudresourcemanager.googleapis.com"])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "github-actions"
  display_name              = "GitHub Actions"
  description               = "CI/CD of ${var.github_repository}"
  depends_on                = [google_project_service.bootstrap]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:The condition pins assertion.sub to repo:<owner/name>:environment:<env>[-plan]; checkov cannot resolve var.github_repository offline, so tests/unit/terraform asserts the pin instead.
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
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
  attribute_condition = "assertion.sub == 'repo:${var.github_repository}:environment:${var.environment}' || (assertion.sub == 'repo:${var.github_repository}:environment:${var.environment}-plan'${local.plan_ref_condition})"
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  account_id   = "deployer"
  display_name = "Terraform deployer (GitHub Actions)"
  project      = var.project_id
}

resource "google_service_account_iam_member" "deployer_wif" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/${local.deploy_subject}"
}

resource "google_project_iam_member" "deployer" {
  #checkov:skip=CKV_GCP_49:The deployer creates the runtime service accounts and sets their IAM (actAs, push token minting), which needs serviceAccountAdmin; no IAM condition can scope it to those accounts. Mitigation in docs/terraform.md: no privileged service account may live in the project (default compute SA without Editor).
  for_each = local.deployer_roles
  project  = var.project_id
  role     = each.value
  member   = google_service_account.deployer.member
}

# Granting project roles: only those the main configuration needs, enforced by IAM itself.
resource "google_project_iam_member" "deployer_grants" {
  project = var.project_id
  role    = "roles/resourcemanager.projectIamAdmin"
  member  = google_service_account.deployer.member
  condition {
    title       = "only-the-configurations-project-roles"
    description = "The deployer may add or remove project-level grants of these roles only."
    expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${join(", ", [for r in local.deployer_grantable_roles : "'${r}'"])}])"
  }
}

resource "google_service_account" "planner" {
  account_id   = "planner"
  display_name = "Terraform plan (GitHub Actions, metadata only)"
  project      = var.project_id
}

resource "google_service_account_iam_member" "planner_wif" {
  service_account_id = google_service_account.planner.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/${local.plan_subject}"
}

# Metadata without data where no predefined role is exactly that: bucket configuration and IAM
# (never objects), the Firestore database's settings (never documents).
resource "google_project_iam_custom_role" "planner_buckets" {
  project     = var.project_id
  role_id     = "plannerMetadata"
  title       = "Terraform planner: bucket and database metadata"
  description = "Read bucket configuration and IAM and Firestore database settings, never objects or documents."
  permissions = [
    "datastore.databases.getMetadata",
    "storage.buckets.get",
    "storage.buckets.getIamPolicy",
    "storage.buckets.list",
  ]
}

resource "google_project_iam_member" "planner" {
  for_each = local.planner_roles
  project  = var.project_id
  role     = each.value
  member   = google_service_account.planner.member
}

resource "google_project_iam_member" "planner_buckets" {
  project = var.project_id
  role    = google_project_iam_custom_role.planner_buckets.name
  member  = google_service_account.planner.member
}
