variable "project_id" {
  description = "Google Cloud project that holds one environment of the product."
  type        = string
  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid Google Cloud project id."
  }
}

variable "environment" {
  description = "Environment name; becomes APP_ENV of every function (shared/settings.py)."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod (local is the emulator stack)."
  }
}

variable "region" {
  description = "Region of the functions, Eventarc triggers, Scheduler jobs, KMS key ring and buckets."
  type        = string
  default     = "europe-west1"
}

variable "bigquery_location" {
  description = "BigQuery location of every dataset; becomes BIGQUERY_LOCATION of every function."
  type        = string
  default     = "EU"
}

variable "firestore_location" {
  description = "Location of the Firestore database (quota state, API keys); eur3 = EU multi-region."
  type        = string
  default     = "eur3"
}

variable "log_level" {
  description = "LOG_LEVEL of every function (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed to upload straight into the manifest buckets (signed URLs). Empty: no CORS."
  type        = list(string)
  default     = []
}

variable "bucket_replication" {
  description = <<-EOT
    Disaster recovery of the manifest buckets (uploads): null keeps them regional in var.region;
    set for prod, e.g. { location = "EU", data_locations = ["EUROPE-WEST1", "EUROPE-WEST4"],
    turbo = true } for a configurable dual-region bucket with turbo replication (RPO 15 min,
    extra cost per GB replicated). Media classes and their lifecycle come from the manifest.
  EOT
  type = object({
    location       = string
    data_locations = list(string)
    turbo          = bool
  })
  default = null
  validation {
    condition     = var.bucket_replication == null || try(length(var.bucket_replication.data_locations) == 2, false)
    error_message = "bucket_replication.data_locations must name exactly two regions."
  }
}

variable "soft_delete_days" {
  description = "Days a deleted object stays recoverable by soft delete (0 disables, else 7-90)."
  type        = number
  default     = 7
  validation {
    condition     = var.soft_delete_days == 0 || (var.soft_delete_days >= 7 && var.soft_delete_days <= 90)
    error_message = "soft_delete_days must be 0 or between 7 and 90."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept before deletion."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days the access-log bucket keeps its objects."
  type        = number
  default     = 365
}

variable "deletion_protection" {
  description = "Protect BigQuery tables and functions' data from `terraform destroy` (true in staging/prod)."
  type        = bool
  default     = true
}

variable "http_invokers" {
  description = "Principals allowed to call each HTTP function, by function name (e.g. {\"webhook-receiver\" = [\"serviceAccount:gw@p.iam.gserviceaccount.com\"]}). Never allUsers."
  type        = map(list(string))
  default     = {}
  validation {
    condition     = alltrue([for members in values(var.http_invokers) : !contains(members, "allUsers") && !contains(members, "allAuthenticatedUsers")])
    error_message = "HTTP functions are authenticated: allUsers/allAuthenticatedUsers are refused."
  }
}

variable "warehouse_readers" {
  description = "Principals (e.g. group:analysts@example.com) that read every row of the customer tables."
  type        = list(string)
  default     = []
}

variable "tenant_readers" {
  description = "Row-level access: principal => customer ids whose rows it may read in the customer tables."
  type        = map(list(string))
  default     = {}
}

variable "alert_emails" {
  description = "E-mail addresses that receive alert notifications."
  type        = list(string)
  default     = []
}

variable "function_error_rate_threshold" {
  description = "Alert when a function's share of 5xx responses over 5 minutes exceeds this ratio."
  type        = number
  default     = 0.05
}

variable "stale_refresh_hours" {
  description = "Alert when no refresh succeeded for this many hours."
  type        = number
  default     = 26
}

variable "billing_account" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) for the budget alert; empty skips the budget."
  type        = string
  default     = ""
}

variable "monthly_budget" {
  description = "Monthly budget amount in the billing account's currency."
  type        = number
  default     = 50
}

variable "deployer_service_account" {
  description = "E-mail of the CI deployer (terraform/bootstrap output deployer_service_account); it gets actAs on the runtime service accounts. Empty: applied by a human."
  type        = string
  default     = ""
}

variable "planner_service_account" {
  description = "E-mail of the CI planner (terraform/bootstrap output planner_service_account); it gets read access to the function source archives. Empty: no CI plan."
  type        = string
  default     = ""
}

variable "cmek_functions" {
  description = "Encrypt function sources, built images (Artifact Registry) and function data with the environment's `functions` KMS key."
  type        = bool
  default     = true
}

variable "http_behind_load_balancer" {
  description = "HTTP functions accept traffic only from inside the project and its external Application Load Balancer (ALLOW_INTERNAL_AND_GCLB) unless their manifest entry sets `ingress`."
  type        = bool
  default     = false
}
