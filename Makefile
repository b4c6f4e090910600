PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-fast lint bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP_RUN)

# Without any Slack setting this starts the sandbox (`okrbot sandbox --demo`).
run: $(STAMP_RUN)
	$(BIN)/okrbot db upgrade
	$(BIN)/okrbot run --or-sandbox

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot/ handlers/ storage/
	$(BIN)/lint-imports

# Four workers, one test file each at a time: most end-to-end tests wait on real
# processes, sockets and clocks rather than on the CPU, so they overlap well. The
# `serial` ones (replicas and a database restart, paced against Slack's rate limits, and
# the hostile-load check) then run alone, so other tests' CPU does not skew them.
test: lint
	$(BIN)/pytest -q -n 4 --dist loadfile -m "not serial"
	$(BIN)/pytest -q -m serial

# The pure tests (tests/unit/): seconds, no database or network.
test-fast: $(STAMP_TEST)
	$(BIN)/pytest -q -m unit

bench: $(STAMP_TEST)
	$(BIN)/python bench/status.py

# Debian's Chromium for the sandbox's browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
