# `make run` and `make test` bootstrap .venv themselves. Every install is hash-checked against a lock:
#   requirements.lock          the runtime (what the image ships; `make run` needs nothing more)
#   requirements-dev.lock      tests, lint, type-check and hadolint, on top of the runtime pins
#   requirements-checkov.lock  checkov, in its own .venv-checkov (its pins clash with the app's)
# (and tests/node/package-lock.json: the TypeScript MCP client, installed by npm ci when npm exists)
# A venv is refreshed only when pyproject.toml or its lock changes. `make lock` regenerates the locks.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check
PIP_TOOLS_VERSION := 7.6.2
# pip-compile options shared by every lock; `make lock LOCK_ARGS=--upgrade` moves every pin to its newest version.
PIP_COMPILE := .venv-lock/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	--no-emit-find-links --newline lf $(LOCK_ARGS)
IMAGE ?= parlae-mcp:$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)

.PHONY: run test bench lock image clean

run: $(RUNTIME_STAMP)
	$(BIN)/parlae-mcp serve --demo

test: $(DEV_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH" $(BIN)/pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# The project itself is built with the locked setuptools (no unpinned build environment from the index).
$(RUNTIME_STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the runtime lock into $(VENV) (first run takes a minute)"
	$(BIN)/python $(PIP_INSTALL) --require-hashes -r requirements.lock
	$(BIN)/python $(PIP_INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.lock
	@echo "installing the dev lock into $(VENV)"
	$(BIN)/python $(PIP_INSTALL) --require-hashes -r requirements-dev.lock
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.lock
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing checkov into $(CHECKOV_VENV)"
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) --require-hashes -r requirements-checkov.lock
	@touch $@

# The official TypeScript MCP client for tests/e2e/test_typescript_client.py (skipped there without Node.js).
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "installing the TypeScript MCP client into tests/node"; \
		npm ci --prefix tests/node --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the TypeScript client test will be skipped"; fi

# Regenerate the locks from pyproject.toml (and requirements-checkov.in) with pip-tools in a throw-away venv.
# The dev lock is constrained by the runtime lock, so both install the same version of every shared package.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python $(PIP_INSTALL) pip-tools==$(PIP_TOOLS_VERSION)
	$(PIP_COMPILE) --all-build-deps --allow-unsafe --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint requirements.lock --output-file requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) --output-file requirements-checkov.lock requirements-checkov.in
	rm -rf .venv-lock

# Build the container image with docker or podman, whichever has a running engine.
image:
	@engine=""; for candidate in docker podman; do \
	  if command -v $$candidate >/dev/null 2>&1 && $$candidate info >/dev/null 2>&1; then engine=$$candidate; break; fi; \
	done; \
	if [ -z "$$engine" ]; then \
	  echo "make image: no container engine available (install docker or podman and start it;" \
	    "a docker client without a daemon is not enough)" >&2; exit 1; \
	fi; \
	echo "$$engine build -t $(IMAGE) ."; \
	$$engine build --build-arg REVISION="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" -t $(IMAGE) .

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .venv-lock var .mypy_cache .ruff_cache
