# icope-bot: the two commands of the README are `make demo` and `make test`.
# Both create .venv, install the project, make sure a Chromium is there, then do their job.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test check lint typecheck format chaos bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,sandbox]'
	touch $(STAMP)

setup: $(STAMP)
	@scripts/ensure-browser.sh $(BIN)
	@scripts/ensure-postgres.sh

## demo: start the sandbox, generate a sample export, run the double entry end to end
demo: setup
	$(BIN)/icope-bot demo

## test: the whole test suite (real Chromium against the sandbox), then the PII scan of
## everything the suite wrote. Browser tests mostly wait on the target, so three workers
## overlap those waits on two cores; all of them share one data folder for the scan and one
## PostgreSQL server. The longest tests are handed out first (tests/fixtures/chaos.py), and the
## slowest 30 are listed at the end, to see where the time goes. Bytecode is written even where
## PYTHONDONTWRITEBYTECODE is set (as in some containers): otherwise each xdist worker rewrites
## every test module's asserts again, ≈ 4 s of CPU each.
XDIST ?= 3
test: setup
	@data=$$(mktemp -d -t icope-bot-tests-XXXXXX) && export PYTHONDONTWRITEBYTECODE= && \
	ICOPE_BOT_TEST_DATA=$$data $(BIN)/pytest -n $(XDIST) --dist load --durations=30 \
		--basetemp=$$data/pytest --ignore=tests/test_zz_pii_scan.py && \
	ICOPE_BOT_TEST_DATA=$$data $(BIN)/pytest tests/test_zz_pii_scan.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## typecheck: mypy --strict (pydantic plugin) on bot/, sandbox/ and mailpipe/ (pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## check: lint, types, then the tests (what to run before pushing)
check: lint typecheck test

## chaos: the `slow` tests at full size: kill/fault runs (200 items, 20+ kills), the queue's
## state machine with every example on PostgreSQL too; reduced versions run in `make test`
chaos: setup
	$(BIN)/pytest -m slow --run-slow --durations=0

## bench: benchmarks; figures go to docs/benchmarks.md
bench: setup
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/evaluation.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
