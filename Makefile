# One venv, installed from pyproject.toml; every target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-slow lint setup doctor down status clean postgres chromium promtool

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,test]"
	touch $(STAMP)

install: $(STAMP)

## demo: start the embedded stack, set it up, seed, publish a burst of reviews, print the summary.
demo: $(STAMP)
	$(VENV)/bin/talentloop demo

## setup: topics, search attributes, Schedules and migrations of the configured deployment.
setup: $(STAMP)
	$(VENV)/bin/talentloop setup

## doctor: check every component of the configured deployment (exit 0 only when all are ready).
doctor: $(STAMP)
	$(VENV)/bin/talentloop doctor

## postgres: start the machine's PostgreSQL cluster when it is installed and not running
## (the PostgreSQL tests need a server at 127.0.0.1:5432, or TALENTLOOP_TEST_PG_URL).
postgres:
	@if [ -d /etc/postgresql ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then \
		for v in $$(ls /etc/postgresql); do \
			pg_ctlcluster --skip-systemctl-redirect $$v main start || true; \
		done; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi

## chromium: Debian's chromium for the console's browser test (Playwright drives it; no
## browser download). Installed with apt-get when missing (needs root); else the test skips.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

## promtool: Debian's prometheus package, whose promtool checks deploy/prometheus's alerting
## rules (tests/talentloop/test_metrics.py). Installed with apt-get when missing (needs root);
## else that test skips and a YAML structure test still runs.
promtool:
	@if ! command -v promtool >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends prometheus; \
	fi

## test: lint, type-check, then every test against the real embedded servers.
test: $(STAMP) postgres
	$(MAKE) lint
	$(PY) -m pytest

## test-slow: the long real-stack runs (marked `slow`): a fresh non-editable install, ...
test-slow: $(STAMP) postgres chromium
	$(PY) -m pytest -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## down: stop the dev stack (exactly what `dev up` started).
down:
	@if [ -x $(VENV)/bin/talentloop ]; then $(VENV)/bin/talentloop dev down; fi

status: $(STAMP)
	$(VENV)/bin/talentloop dev status

clean: down
	rm -rf .talentloop
