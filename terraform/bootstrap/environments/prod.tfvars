project_id        = "CHANGE-ME-prod"
environment       = "prod"
github_repository = "CHANGE-ME/gcp-event-plumbing"
