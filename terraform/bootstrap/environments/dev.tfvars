project_id        = "CHANGE-ME-dev"
environment       = "dev"
github_repository = "CHANGE-ME/gcp-event-plumbing"
