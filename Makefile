# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs, idempotently (a stamp file
# per extra, redone when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint format bench server clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[dev]"
	touch $@ $(VENV)/.installed

# Official clients with pins of their own (kserve pins an older pandas), kept out of
# .venv so they never change what loopml is tested with; the e2e tests run them.
$(VENV)/.installed-clients: | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/clients
	$(VENV)/clients/bin/python -m pip install --quiet --disable-pip-version-check "kserve==0.21.0"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/loopml demo

test: $(VENV)/.installed-dev $(VENV)/.installed-clients
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/data.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/pipelines.py

server: $(VENV)/.installed
	$(BIN)/loopml server

clean:
	rm -rf $(VENV) .loopml .pytest_cache .mypy_cache .ruff_cache
