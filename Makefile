# riskops — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: run test check fmt schema bench migrations install browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test,dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make run: set up, migrate the embedded SQLite database under var/, seed the demo
## organization (logins printed once) and serve http://127.0.0.1:8000 with in-process jobs.
run: install
	$(BIN)/riskops serve

## Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)); \
	  else echo "install Debian's chromium (sudo apt-get install chromium) for the browser tests"; exit 1; fi; \
	fi

## make test: everything the tests need, then the whole suite (SQLite and PostgreSQL,
## a real arq worker on Redis, headless Chromium).
test: install browser
	$(BIN)/pytest

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p .mypy-path && ln -sfn .. .mypy-path/riskops
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Regenerate the committed SDL (a test fails when it drifts).
schema: install
	$(BIN)/python -c "from riskops.graphql.schema import schema; open('graphql/schema.graphql','w').write(schema.as_str()+'\n')"

## Regenerate docs/PERMISSIONS.md and the README's role list from server/core/permissions.py
## (a test fails when they drift).
.PHONY: permissions-doc
permissions-doc: install
	$(BIN)/python -m riskops.server.core.permissions --write

migrations: install
	$(BIN)/tortoise -c riskops.server.settings.TORTOISE_ORM makemigrations

## make bench: the benchmarks under bench/ (not part of the suite); the load figures use wrk.
bench: install
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)); \
	  else echo "install Debian's wrk (sudo apt-get install wrk) for the load figures"; exit 1; fi; \
	fi
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
