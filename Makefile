# riskops — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The hash-pinned locks `make lock` writes from pyproject.toml: everything .venv holds (the app,
# every extra, pip and the build backend), and the app alone for the Docker image.
LOCK := requirements/lock.txt
LOCK_PROD := requirements/lock-prod.txt
LOCKFILE = $(BIN)/python tests/platform/lockfile.py
# A new lock or pyproject.toml makes a new stamp: a second `make run` installs nothing.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) 2>/dev/null | sha256sum | cut -c1-12)
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: run test check fmt schema bench migrations install lock browser node clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

## Exactly the locked versions, each file checked against its hash; then riskops itself, with
## nothing left to resolve (--no-deps) and built by the locked setuptools (--no-build-isolation).
## The Node tools the tests run are pinned apart, in tests/node (see `node` below).
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make lock: resolve pyproject.toml's dependencies (and [build-system], pip) again into both
## locks, for every platform and Python >= 3.11; needs the package registry. It keeps each pin
## that still fits: UPGRADE=1 takes the newest of everything, UPGRADE=NAME of one package.
## The tool is uv at the version pyproject's `lock` extra pins; --python-version 3.11 is
## requires-python's floor, so the lock is the same whichever Python runs it. The prod lock is
## constrained by the full one: same versions, minus the test and dev tools.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet "$$($(LOCKFILE) tool)"
	mkdir -p requirements
	set -o pipefail; $(LOCKFILE) inputs | $(UV_COMPILE) --all-extras -o $(LOCK) \
	  $(if $(filter 1,$(UPGRADE)),--upgrade,$(addprefix --upgrade-package ,$(UPGRADE))) \
	  pyproject.toml -
	set -o pipefail; $(LOCKFILE) inputs | $(UV_COMPILE) -c $(LOCK) -o $(LOCK_PROD) pyproject.toml -
	$(LOCKFILE) stamp $(LOCK) $(LOCK_PROD)

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

## The Node tools the suite runs (graphql-http's audit, axe-core), from tests/node's lockfile.
NODE_STAMP := tests/node/node_modules/.package-lock.json
node: $(NODE_STAMP)
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --ignore-scripts --no-audit --no-fund --silent

## make test: everything the tests need, then the whole suite (SQLite and PostgreSQL,
## a real arq worker on Redis, headless Chromium) on TEST_WORKERS pytest-xdist workers, one a
## core; each worker has its own databases, queues and ports. TEST_WORKERS=0: one process.
## (`.venv/bin/pytest tests/<file>` alone runs in one process, as before.)
TEST_WORKERS ?= 2
test: install browser node
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

## make check: the locks match pyproject.toml (offline), ruff, ruff format, mypy.
check: install
	$(LOCKFILE) check
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
