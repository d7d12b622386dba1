# The single entry points: `make demo`, `make test`, `make check` (the inner loop), `make lint`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
# Reinstall when the dependency list changes, not on every run.
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
DEMO_STAMP := $(VENV)/.demo-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo serve test check lint format typecheck pytest services install install-dev install-demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEPS_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.deps-* && touch $@

# The demo extra (fakeredis, aiosqlite): only `queue-status demo` needs it.
$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[demo]'
	rm -f $(VENV)/.demo-* $(VENV)/.deps-* && touch $@ $(DEPS_STAMP)

# dev includes the demo extra.
$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.demo-* $(VENV)/.deps-* && touch $@ $(DEMO_STAMP) $(DEPS_STAMP)

install: $(DEPS_STAMP)

install-dev: $(DEV_STAMP)

install-demo: $(DEMO_STAMP)

## Start the embedded demo (fakeredis, SQLite, simulated Asterisk) on http://127.0.0.1:$(PORT)
demo: install-demo
	$(BIN)/queue-status demo --port $(PORT)

serve: install
	$(BIN)/queue-status serve

## Everything CI runs: services up, lint, types, the whole test suite
test: install-dev services browser-deps lint typecheck pytest frontend

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

## The inner loop, under a minute: lint, types and the in-process tests of ingest and the
## simulator. Left out (`make test` runs them): the app on a socket (tests/api), the ingest's
## runners over TCP (tests/ingest/runners), the bench smoke run, and the kinds marked browser,
## reliability, standalone (by folder) and slow.
check: install-dev services lint typecheck
	$(BIN)/pytest -q -m "not slow" tests/ingest tests/simulator --ignore=tests/ingest/runners

## The benchmark suite (not part of `make test`; a smoke run of it is): every scenario at 100,
## 1,000 and 5,000 operators on real Redis, PostgreSQL and uvicorn, as ratios to same-run
## ceilings, then API replicas (3 × 1,000 subscribers at 500 changes/s); writes
## bench/results.{json,txt,md,png} and prints each goal, met or not.
## Load comes from wrk when installed (apt-get install wrk), else from our asyncio client.
.PHONY: bench
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
$(BENCH_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	rm -f $(VENV)/.bench-* && touch $@
bench: $(BENCH_STAMP) services bench-deps browser-deps
	@command -v wrk >/dev/null || echo "wrk not installed: using the asyncio load client"
	$(BIN)/python -m bench

## Debian's wrk for the HTTP load (as root; else the bench uses its asyncio client)
.PHONY: bench-deps
bench-deps:
	@if command -v wrk >/dev/null; then echo "wrk: $$(command -v wrk)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	else echo "bench-deps: wrk missing; as root run: apt-get install wrk"; fi

## Scenario 9 alone (`make bench` runs it too): 3 `serve --role api` replicas × 1,000
## wallboard subscribers each while one `serve --role ingest` writes 500 changes/s
.PHONY: bench-replicas
bench-replicas: $(BENCH_STAMP) services
	$(BIN)/python -m bench.replicas

## Scenario 10 alone (`make bench` runs it too): a 45,700-message AMI burst as fast as TCP
## allows while REST and GraphQL are timed; API p99, event-loop lag, queue depth
.PHONY: bench-burst
bench-burst: $(BENCH_STAMP) services
	$(BIN)/python -m bench.burst

## Export the GraphQL schema from the code to schema.graphql (a test compares them)
.PHONY: schema
schema: install
	$(BIN)/python -m api.graphql.export --output schema.graphql

## The client examples: build the Angular app (codegen first), then run the JS example
## against a demo server started on a free port (stopped afterwards). Lockfiles decide versions.
.PHONY: frontend browser-deps
NPM_CI := npm ci --no-audit --no-fund --loglevel=error
frontend: install-demo
	cd frontend-examples/angular && $(NPM_CI) && npm run build
	cd frontend-examples/js && $(NPM_CI)
	@port=$$($(BIN)/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	log=$$(mktemp); \
	$(BIN)/queue-status demo --port $$port >"$$log" 2>&1 & demo=$$!; \
	trap 'kill $$demo 2>/dev/null; wait $$demo 2>/dev/null; rm -f "$$log"' EXIT; \
	echo "JS example against the demo on port $$port"; \
	node frontend-examples/js/index.mjs --url http://127.0.0.1:$$port --wait 60 --count 5 --timeout 90 \
	  || { echo "--- demo log"; tail -n 40 "$$log"; exit 1; }

## Debian's Chromium for the browser tests (never a downloaded browser); only as root
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; \
	else echo "browser-deps: /usr/bin/chromium missing; as root run: apt-get install chromium (browser tests skip without it)"; fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- reliability (issue #7) ------------------------------------------------------
REL_STAMP := $(VENV)/.rel-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
REL_RESULTS := tests/reliability/results/results.json

$(REL_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,reliability]'
	rm -f $(VENV)/.rel-* && touch $@

.PHONY: reliability
## Every reliability item (faults, fuzzing, abuse, load, the 10-min soak); prints the table
reliability: $(REL_STAMP) services
	rm -f $(REL_RESULTS)
	QS_RELIABILITY=1 QS_RELIABILITY_RESULTS=$(REL_RESULTS) $(BIN)/pytest tests/reliability -q; \
	status=$$?; $(BIN)/python -m tests.reliability.report $(REL_RESULTS) || status=1; exit $$status
