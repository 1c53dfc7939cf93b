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

# Two test processes (pytest-xdist; each has its own Temporal dev server, SQLite files and
# scratch PostgreSQL databases): 17-19 min on 2 cores instead of ~29 serially. worksteal
# evens out the long whole-process tests between the two.
test: lint typecheck browser
	$(BIN)/pytest -n 2 --dist worksteal

bench: install
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
