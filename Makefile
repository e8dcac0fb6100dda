# Every target is self-sufficient on a fresh machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the Kafka jars' cache is outside the clone (common/kafka_jars.py), so later clones reuse it
KAFKA_JARS := $(VENV)/.kafka-jars

SOURCE ?= synthetic:rows=200000,seed=7
DB ?= data/experiment.duckdb
QUICK ?=

.PHONY: help venv kafka-jars chromium demo test test-integration test-tansu test-fast lint fmt bench soak experiment clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required, found " + sys.version' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv, install requirements.txt and the project (editable, with its commands)

$(KAFKA_JARS): $(STAMP) common/kafka/pom.xml
	$(PY) -m common.kafka_jars --if-java
	touch $(KAFKA_JARS)

kafka-jars: $(KAFKA_JARS)  ## fetch the Apache Kafka broker's jars once with Maven (when Java 17+ is there)

chromium:  ## install Debian's chromium for the browser tests when root with apt-get (as CI does)
	@.ci/install-chromium

demo: $(KAFKA_JARS)  ## local broker + replay + processors + both dashboards (Ctrl-C stops all)
	$(PY) -m pipeline.demo

lint: $(STAMP)  ## ruff (lint + format check) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy common producers processors warehouse pipeline dashboards bench tests

fmt: $(STAMP)  ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: lint chromium test-integration test-tansu  ## lint, the whole suite on Apache Kafka, the smoke subset on Tansu

test-integration: $(KAFKA_JARS)  ## the whole test suite (unit, property, integration, browser) on the ladder's broker
	$(PY) -m pytest -q

test-tansu: $(STAMP)  ## the Tansu smoke subset (round trip, chain oracle, a fault test) on the fallback broker
	TEST_BROKER=tansu $(PY) -m pytest -q -m tansu_smoke

test-fast: $(STAMP)  ## unit and property tests only (no broker)
	$(PY) -m pytest -q -m "not integration and not browser"

bench: $(KAFKA_JARS)  ## benchmark against same-run baselines; QUICK=1 small, BROKER=tansu the fallback
	$(PY) -m bench $(if $(QUICK),--quick,) $(if $(BROKER),--broker $(BROKER),)

soak: $(KAFKA_JARS)  ## long load and fault runs
	$(PY) -m bench.soak $(if $(QUICK),--quick,)

experiment: $(KAFKA_JARS)  ## SOURCE=<file|url|synthetic:...> DB=<path>: replay, process, materialize, reconcile
	$(PY) -m pipeline.experiment "$(SOURCE)" --db "$(DB)"

clean:  ## remove local state, run files and caches (not .venv)
	rm -rf .state .run .pytest_cache .mypy_cache .ruff_cache test-artifacts
