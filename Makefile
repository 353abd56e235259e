# Developer entry points. `make run` and `make test` are the README's quick start.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(CURDIR)/var
PYTEST_ARGS ?=

.PHONY: run test dev lint fmt bench clean services tools

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The runtime install is enough for `make run`; tests need the dev extras too.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,postgres,redis]'
	touch $(VENV)/.installed $@

dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/alexanderd dev --data-dir $(DATA)

# External clients the end-to-end suite drives (rclone comes from Debian) and
# systemd-analyze for the unit-file checks; the services tests talk to.
tools:
	@command -v rclone >/dev/null 2>&1 && command -v systemd-analyze >/dev/null 2>&1 \
	  && command -v systemd-socket-activate >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone systemd >/dev/null; }

services:
	@bash .ci/services

test: dev tools services
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(VENV)/.installed-bench: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,postgres,redis,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

bench: $(VENV)/.installed-bench services
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache var
