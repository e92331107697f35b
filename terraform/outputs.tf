output "function_urls" {
  description = "HTTPS URL of every function."
  value       = { for name, m in module.function : name => m.uri }
}

output "function_service_accounts" {
  description = "Runtime service account of every function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "buckets" {
  description = "Manifest bucket key => bucket name."
  value       = { for key, b in google_storage_bucket.manifest : key => b.name }
}

output "secrets_to_fill" {
  description = "Secret Manager secrets whose versions must be added out of band."
  value       = sort([for s in google_secret_manager_secret.function : s.secret_id])
}
