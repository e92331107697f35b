# CI/CD identities. The Workload Identity Federation pool, the deployer and planner service
# accounts and their project-level roles live in terraform/bootstrap/, applied once per
# environment by a human: the deployer that applies THIS configuration can neither change its
# own roles nor grant project roles beyond the three this configuration needs (IAM condition
# there). Here only what the deployer needs on resources created here: acting as the runtime
# service accounts it attaches to functions and triggers; and the planner's read access to the
# function source archives (code, no customer data).

locals {
  deployer_act_as = merge(
    { for name, sa in google_service_account.function : "fn-${name}" => sa.name },
    { eventarc = google_service_account.eventarc.name, push = google_service_account.push.name },
  )
}

resource "google_service_account_iam_member" "deployer_act_as" {
  for_each           = var.deployer_service_account == "" ? {} : local.deployer_act_as
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${var.deployer_service_account}"
}

resource "google_storage_bucket_iam_member" "planner_sources" {
  count  = var.planner_service_account == "" ? 0 : 1
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${var.planner_service_account}"
}
