# terraform -chdir=terraform/bootstrap init -reconfigure -backend-config=environments/ENV.backend.hcl
bucket = "CHANGE-ME-tfstate"
prefix = "event-plumbing/dev-bootstrap"
