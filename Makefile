# `make demo` and `make test` work on a fresh machine with only Python >= 3.11:
# they create .venv and install the project with its dev tools first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH  := $(VENV)/.installed-bench
DURATION ?=
PYTEST_ARGS ?=

.PHONY: setup demo framework-demo test lint typecheck bench clean services-down

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

DATA ?=

demo: setup
	$(BIN)/python -m chimera.demo $(if $(DURATION),--duration $(DURATION)) $(foreach f,$(DATA),--data $(f))

framework-demo: setup
	$(BIN)/python -m handlers.framework_demo $(if $(DURATION),--duration $(DURATION))

lint: setup
	$(BIN)/ruff check chimera chimera_workers handlers tests scripts

typecheck: setup
	$(BIN)/mypy

test: setup lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BENCH): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(BENCH)

bench: $(BENCH)
	$(BIN)/python scripts/bench/runner.py

services-down: setup
	$(BIN)/chimera services down

clean:
	rm -rf $(VENV) .chimera .pytest_cache .mypy_cache .ruff_cache
