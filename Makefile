# The single entry points: `make demo`, `make test`, `make lint`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
# Reinstall when the dependency list changes, not on every run.
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo serve test lint format typecheck pytest services install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEPS_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.deps-* && touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.deps-* && touch $@ $(DEPS_STAMP)

install: $(DEPS_STAMP)

install-dev: $(DEV_STAMP)

## Start the embedded demo (fakeredis, SQLite, simulated Asterisk) on http://127.0.0.1:$(PORT)
demo: install
	$(BIN)/queue-status demo --port $(PORT)

serve: install
	$(BIN)/queue-status serve

## Everything CI runs: services up, lint, types, the whole test suite
test: install-dev services lint typecheck pytest

services:
	bash scripts/ensure-services.sh

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest

## Export the GraphQL schema from the code to schema.graphql (a test compares them)
.PHONY: schema
schema: install
	$(BIN)/python -m api.graphql.export --output schema.graphql

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
