# The two commands: `make up` runs jobdeck on this machine, `make test` checks it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test install lint typecheck browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,training]'
	touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/jobdeck up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# One test process: `pytest -n 2` (pytest-xdist; each process its own Temporal and
# databases) takes ~18 min instead of ~29, but on 2 cores a browser test and a feed test
# still time out now and then under that load, so CI stays serial until they do not.
test: lint typecheck browser
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
