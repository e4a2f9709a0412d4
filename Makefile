# Developer commands: `make up` runs the whole stack, `make test` runs every check.
# Everything installs into .venv from requirements.lock; only Python 3.11 and make are assumed.

PYTHON ?= python3
BIN := .venv/bin
LOCK_HEADER := \# Pinned full dependency tree (direct deps from pyproject.toml, incl. the `dev` extra).\n\# Do not edit by hand. Regenerate with `make lock`: it builds a throwaway venv from\n\# the dependencies in pyproject.toml, installs them with pip and freezes it into this file.\n

.PHONY: up test lint typecheck contracts lock bench migrate clean

# Stamp file: reinstalls only when the lock or the project's metadata changes.
.venv/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv .venv
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.lock
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

up: .venv/.installed
	$(BIN)/python -m backend.devtools.run_all

test: lint typecheck contracts
	$(BIN)/python -m pytest

lint: .venv/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: .venv/.installed
	$(BIN)/mypy

# The import contracts in pyproject.toml: which room may import which.
contracts: .venv/.installed
	$(BIN)/lint-imports --no-cache

bench: .venv/.installed
	$(BIN)/python bench/run.py

migrate: .venv/.installed
	$(BIN)/python -m backend migrate

# Resolves pyproject.toml's direct dependencies afresh (newest allowed versions) and pins them.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q --upgrade pip; \
	$(PYTHON) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print(*p["dependencies"], *p["optional-dependencies"]["dev"], sep="\n")' > "$$tmp/direct.txt"; \
	"$$tmp/venv/bin/python" -m pip install -q -r "$$tmp/direct.txt"; \
	{ printf '$(LOCK_HEADER)'; "$$tmp/venv/bin/python" -m pip freeze --exclude-editable; } \
		> "$$tmp/lock"; \
	mv "$$tmp/lock" requirements.lock
	@echo "requirements.lock regenerated: review the diff"

# Leaves var/ alone: it holds the local database, Redis data and mailbox.
clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
