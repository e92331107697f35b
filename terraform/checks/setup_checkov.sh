#!/usr/bin/env bash
# Creates .venv-checkov (repository root) with the pinned checkov used by the offline Terraform
# checks (tests/unit/terraform/test_checkov.py). Idempotent and quick when already installed.
# Usage: bash terraform/checks/setup_checkov.sh        (or CHECKOV_PYTHON=/path/to/python3.12)
set -euo pipefail
cd "$(dirname "$0")/../.."
REQS=terraform/checks/checkov-requirements.txt
VENV=.venv-checkov
STAMP=$VENV/.stamp

if [[ -f $STAMP && $STAMP -nt $REQS && -x $VENV/bin/checkov ]]; then
  exit 0
fi

PY=${CHECKOV_PYTHON:-}
if [[ -z $PY ]]; then
  for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 python3.11 python3.13 \
                   /root/.pyenv/versions/3.13*/bin/python3.13 python3; do
    # pyenv shims exist for versions that are not selected: check that it really runs.
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, venv; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1; then
      PY=$(command -v "$candidate"); break
    fi
  done
fi
if [[ -z $PY ]]; then
  echo "setup_checkov: no Python 3.11-3.13 found; set CHECKOV_PYTHON=/path/to/python3.12" >&2
  exit 1
fi

test -x $VENV/bin/python || "$PY" -m venv $VENV
$VENV/bin/pip install --quiet --disable-pip-version-check -r $REQS
$VENV/bin/checkov --version >/dev/null
touch $STAMP
echo "setup_checkov: $($VENV/bin/checkov --version) in $VENV"
