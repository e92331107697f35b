# terraform init -reconfigure -backend-config=environments/dev.backend.hcl
bucket = "CHANGE-ME-tfstate"
prefix = "event-plumbing/dev"
