project_id        = "CHANGE-ME-staging"
environment       = "staging"
github_repository = "CHANGE-ME/gcp-event-plumbing"
