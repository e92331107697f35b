output "workload_identity_provider" {
  description = "Value for the GitHub environment variable WIF_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "GitHub variable DEPLOYER_SA, and the main configuration's var.deployer_service_account."
  value       = google_service_account.deployer.email
}

output "planner_service_account" {
  description = "GitHub variable PLANNER_SA, and the main configuration's var.planner_service_account."
  value       = google_service_account.planner.email
}
