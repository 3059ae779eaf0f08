# govpulse — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
CHROMIUM := /usr/bin/chromium
BENCH ?= quick

.PHONY: run test lint unit integration bench soak install chromium compose-check clean help

help:
	@echo "make run     start the embedded stack (broker, Redis, worker, web, API, simulator)"
	@echo "make test    lint + the whole test suite (starts every service it needs)"
	@echo "make bench   benchmarks (quick; BENCH=full for the full profile)"
	@echo "make soak    the long reliability run (several workers, faults)"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (python3.11 or python3 on PATH)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/govpulse dev

# Browser tests drive Debian's Chromium (never a downloaded browser).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)); \
	  else \
	    echo "browser tests need $(CHROMIUM): run 'sudo apt-get install chromium'"; exit 1; \
	  fi; \
	fi

# `docker compose config` in the tests: the compose plugin if docker has it, else Debian's
# Compose v1 (installed here when running as root), else that one test is skipped.
compose-check:
	@if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1 \
	    && ! command -v docker-compose >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's docker-compose to validate docker-compose.yml"; \
	  apt-get install -y -q docker-compose >/dev/null 2>&1 || echo "docker-compose not installed: that check will be skipped"; \
	fi

lint: install
	$(BIN)/ruff check domain alerts runtime stream web notify api govpulse tests bench
	$(BIN)/mypy

test: install chromium compose-check lint
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest -m "not integration"

integration: install chromium
	$(BIN)/python -m pytest -m integration

bench: install
	$(BIN)/python -m bench --profile $(BENCH)

soak: install
	GOVPULSE_SOAK=1 $(BIN)/python -m pytest -m soak -p no:cacheprovider --timeout 3600

clean:
	rm -rf $(VENV) .govpulse .pytest_cache .mypy_cache .ruff_cache
