#!/usr/bin/env bash
# Deploy one environment from a workstation: bash terraform/deploy.sh dev [plan|apply]
# (the equivalent of `make deploy ENV=dev`). Needs gcloud application-default credentials.
set -euo pipefail
ENV=${1:?usage: deploy.sh dev|staging|prod [plan|apply]}
ACTION=${2:-apply}
cd "$(dirname "$0")"
terraform init -input=false -reconfigure -backend-config="environments/${ENV}.backend.hcl"
terraform "$ACTION" -input=false -var-file="environments/${ENV}.tfvars"
