# One venv, installed from pyproject.toml; every target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint down status clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## demo: start the embedded stack, seed, publish a burst of reviews, print the summary.
demo: $(STAMP)
	$(VENV)/bin/talentloop demo

## test: lint, type-check, then every test against the real embedded servers.
test: $(STAMP)
	$(MAKE) lint
	$(PY) -m pytest

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
