# Two commands: `make run` (local stack + demo) and `make test` (lint, types, all tests).
# Both build their virtualenvs first and are quick when nothing changed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON313 ?= $(shell command -v python3.13 2>/dev/null || ls /root/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | head -n1)
VENV := .venv
PY := $(VENV)/bin/python
BQ_VENV := .emulators/bigquery
TASKS_VENV := .emulators/tasks
PIP_FLAGS := --quiet --disable-pip-version-check
DEMO ?= stay
PYTEST_ARGS ?=
SOAK_RUNS ?= 10

.PHONY: help setup test-setup chromium-setup run test lint typecheck unit integration bench soak clean

help:
	@echo "make run            start the local stack, play the demo, stay up (DEMO=once exits after the report)"
	@echo "make test           lint + type check + unit + integration + end-to-end tests"
	@echo "make bench          benchmarks (writes bench/results/latest.json)"
	@echo "make soak           start and stop the local stack 10 times, report failures (SOAK_RUNS=N)"
	@echo "make clean          remove virtualenvs and local state"

$(PYTHON313):
	@true

$(VENV)/.stamp: requirements.txt requirements-dev.txt constraints.txt $(wildcard functions/*/requirements.txt)
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; }
	@test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -r requirements-dev.txt
	@touch $@

# The operators' CLI: a tiny launcher, no package install (works from any directory).
$(VENV)/bin/plumb: devstack/plumb $(VENV)/.stamp
	install -m 0755 devstack/plumb $@

$(BQ_VENV)/.stamp: devstack/bigquery-emulator-requirements.txt devstack/bigquery-emulator-duckdb.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	@test -x $(BQ_VENV)/bin/python || $(PYTHON313) -m venv $(BQ_VENV)
	$(BQ_VENV)/bin/pip install $(PIP_FLAGS) -r devstack/bigquery-emulator-requirements.txt
	$(BQ_VENV)/bin/pip install $(PIP_FLAGS) --no-deps -r devstack/bigquery-emulator-duckdb.txt
	$(BQ_VENV)/bin/python -c "from duckdb_extensions import import_extension as i; [i(x) for x in ('ducklake','icu','spatial')]"
	@touch $@

$(TASKS_VENV)/.stamp: devstack/tasks-emulator-requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	@test -x $(TASKS_VENV)/bin/python || $(PYTHON313) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/pip install $(PIP_FLAGS) -r devstack/tasks-emulator-requirements.txt
	@touch $@

.venv-checkov/.stamp: terraform/checks/checkov-requirements.txt terraform/checks/setup_checkov.sh
	bash terraform/checks/setup_checkov.sh

setup: $(VENV)/.stamp $(VENV)/bin/plumb $(BQ_VENV)/.stamp $(TASKS_VENV)/.stamp

# The console's browser test drives Debian's chromium headless: installed here when missing
# (as root or with password-less sudo); elsewhere the test says how (and fails in CI).
chromium-setup:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "chromium missing and no root: apt-get install chromium (the browser test needs it)"; exit 0; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; }

test-setup: setup .venv-checkov/.stamp chromium-setup

run: setup
	$(PY) -m devstack.run --demo $(DEMO)

lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.stamp
	$(VENV)/bin/mypy

unit: $(VENV)/.stamp
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test: test-setup lint typecheck
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench

soak: setup
	$(PY) -m devstack.soak --runs $(SOAK_RUNS)

clean:
	rm -rf $(VENV) .venv-checkov .emulators .local .mypy_cache .ruff_cache .pytest_cache
