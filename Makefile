# Every target is self-sufficient on a fresh machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SOURCE ?= synthetic:rows=200000,seed=7
DB ?= data/experiment.duckdb
QUICK ?=

.PHONY: help venv demo test test-fast lint fmt bench soak experiment clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install requirements.txt

demo: $(STAMP)  ## embedded broker + replay + processors + both dashboards (Ctrl-C stops all)
	$(PY) -m processors.demo

lint: $(STAMP)  ## ruff (lint + format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy common producers processors dashboards bench tests

fmt: $(STAMP)  ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: $(STAMP) lint  ## lint, then the whole test suite (unit, property, integration, browser)
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## unit and property tests only (no broker)
	$(PY) -m pytest -q -m "not integration and not browser"

bench: $(STAMP)  ## benchmark against same-run baselines; QUICK=1 for a small run
	$(PY) -m bench $(if $(QUICK),--quick,)

soak: $(STAMP)  ## long load and fault runs
	$(PY) -m bench.soak $(if $(QUICK),--quick,)

experiment: $(STAMP)  ## SOURCE=<file|url|synthetic:...> DB=<path>: replay, process, materialize, reconcile
	$(PY) -m processors.experiment "$(SOURCE)" --db "$(DB)"

clean:  ## remove local state, run files and caches (not .venv)
	rm -rf .state .run .pytest_cache .mypy_cache .ruff_cache test-artifacts
