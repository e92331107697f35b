# terraform init -reconfigure -backend-config=environments/staging.backend.hcl
bucket = "CHANGE-ME-tfstate"
prefix = "event-plumbing/staging"
