variable "project_id" {
  description = "Project of the function."
  type        = string
}

variable "region" {
  description = "Region of the function."
  type        = string
}

variable "trigger_region" {
  description = "Location of a storage trigger: the bucket's own (a region, or e.g. \"eu\" for a dual-region bucket)."
  type        = string
}

variable "name" {
  description = "Function name (the manifest entry's `name`)."
  type        = string
}

variable "source_dir" {
  description = "The function folder (functions/<dir>) holding main.py and requirements.txt."
  type        = string
}

variable "shared_dir" {
  description = "The repository's shared/ package, packed beside main.py."
  type        = string
}

variable "runtime" {
  description = "Cloud Functions runtime."
  type        = string
  default     = "python313"
}

variable "entry_point" {
  description = "Python function in main.py (the manifest entry's `entry_point`)."
  type        = string
}

variable "trigger_type" {
  description = "storage | pubsub | http (the manifest entry's trigger.type)."
  type        = string
  validation {
    condition     = contains(["storage", "pubsub", "http"], var.trigger_type)
    error_message = "trigger_type must be storage, pubsub or http."
  }
}

variable "bucket_name" {
  description = "Bucket whose object events trigger a storage function."
  type        = string
  default     = null
}

variable "storage_event" {
  description = "First storage event type (finalized, deleted, archived, metadataUpdated) handled by the function's own trigger."
  type        = string
  default     = "finalized"
}

variable "source_bucket" {
  description = "Bucket that stores the source archives."
  type        = string
}

variable "service_account_email" {
  description = "The function's own runtime service account."
  type        = string
}

variable "trigger_service_account_email" {
  description = "Service account Eventarc uses to invoke storage functions."
  type        = string
  default     = null
}

variable "env" {
  description = "Plain environment variables (core settings + the manifest entry's env)."
  type        = map(string)
}

variable "secrets" {
  description = "Env var name => Secret Manager secret id (latest version)."
  type        = map(string)
  default     = {}
}

variable "concurrency" {
  description = "Concurrent requests per instance."
  type        = number
}

variable "memory" {
  description = "Memory per instance, e.g. 512Mi."
  type        = string
}

variable "cpu" {
  description = "vCPU per instance; null lets Cloud Functions pick (concurrency > 1 needs >= 1)."
  type        = string
  default     = null
}

variable "timeout_s" {
  description = "Request timeout in seconds (event functions: at most 540)."
  type        = number
}

variable "min_instances" {
  description = "Instances kept warm (0 costs nothing at idle)."
  type        = number
}

variable "max_instances" {
  description = "Upper bound on instances (protects BigQuery quotas and the budget)."
  type        = number
}

variable "kms_key_name" {
  description = "KMS key that encrypts the function's source and build artifacts (needs docker_repository encrypted with a key too); null for Google-managed."
  type        = string
  default     = null
}

variable "build_service_account" {
  description = "Full resource name (projects/P/serviceAccounts/EMAIL) of the identity Cloud Build uses to build the function."
  type        = string
}

variable "docker_repository" {
  description = "Artifact Registry repository (projects/P/locations/R/repositories/NAME) that receives the built image; required with kms_key_name."
  type        = string
  default     = null
}

variable "ingress" {
  description = "ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB (from the manifest entry's ingress)."
  type        = string
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress)
    error_message = "ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "labels" {
  description = "Labels on the function."
  type        = map(string)
  default     = {}
}
