# The two commands of the README: `make demo` and `make test`. Each installs what it
# needs first (idempotent: stamp files remember what is done, keyed on the lock files).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test setup setup-test lint lock clean-env

# The whole platform on embedded defaults, with demo accounts and a night streamed live
# (`gsp demo` is the offline, pipeline-only demo: simulate a night and reduce it).
demo: setup
	$(VENV)/bin/gsp up --demo

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (lint and format), and the layers (import-linter, [tool.importlinter] in pyproject.toml)
lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

setup: $(VENV)/.installed node_modules/.installed

setup-test: setup $(VENV)/.installed-test .chromium-checked

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip uv

# The lock pins every package (including the test extra), so one install serves both
# commands; the project itself is installed editable on top with no dependency resolution.
# Bytecode is compiled at install (as pip does): where PYTHONDONTWRITEBYTECODE is set, every
# hub, service, kernel and worker process would otherwise compile the stack again.
$(VENV)/.installed: requirements.lock requirements-overrides.txt pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode -r requirements.lock \
	  --override requirements-overrides.txt
	$(VENV)/bin/uv pip install --python $(PY) --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Browser tests drive Debian's chromium (Playwright's own browser download cannot work here).
.chromium-checked:
	@if ! command -v chromium >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@touch $@

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(VENV)/bin/python
	$(VENV)/bin/uv pip compile pyproject.toml --extra test -p 3.11 -o requirements.lock \
	  --override requirements-overrides.txt

clean-env:
	rm -rf $(VENV) node_modules .chromium-checked
