output "name" {
  description = "Function name."
  value       = google_cloudfunctions2_function.this.name
}

output "service" {
  description = "Name of the Cloud Run service behind the function (target of extra Eventarc triggers and invoker bindings)."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}

output "uri" {
  description = "HTTPS URL of the function."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}
