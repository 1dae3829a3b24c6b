# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench install install-test system-deps

$(BIN)/python:
	python3 -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q -e ".[llm,speakers]"

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q -e '.[test,llm,speakers]'

# espeak-ng and sox render the spoken test calls; the package itself needs neither.
system-deps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng sox >/dev/null; }

demo: install
	$(BIN)/callphase demo

test: install-test
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/bench_pipeline.py
