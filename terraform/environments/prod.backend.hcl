# terraform init -reconfigure -backend-config=environments/prod.backend.hcl
bucket = "CHANGE-ME-tfstate"
prefix = "event-plumbing/prod"
