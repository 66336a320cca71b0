# `make run` and `make test` bootstrap .venv themselves; it is rebuilt only when pyproject.toml or
# requirements.lock change. checkov lives in its own .venv-checkov (its pins clash with the app's).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: run test lint typecheck pytest checkov bench lock clean

run: $(STAMP)
	$(BIN)/parlae-mcp serve --demo

NODE_STAMP := tests/node/node_modules/.installed

test: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH" $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing dependencies into $(VENV) (first run takes a minute)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV)"
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

# The official TypeScript MCP client for tests/e2e/test_typescript_client.py (skipped there without Node.js).
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "installing the TypeScript MCP client into tests/node"; \
		npm ci --prefix tests/node --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the TypeScript client test will be skipped"; fi

# Regenerate requirements.lock from pyproject.toml in a throw-away environment.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable --exclude parlae-mcp | sort > requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) var .mypy_cache .ruff_cache
