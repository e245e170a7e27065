# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: demo test bench screenshots postgres system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) system
	$(BIN)/arrears demo

postgres:
	@scripts/ensure-postgres

system:
	@scripts/ensure-system-packages

test: $(STAMP) postgres system
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q --durations=25

# Retake the screenshots in docs/screenshots/ (an ordinary test run never writes them).
screenshots: $(STAMP) system
	ARREARS_RETAKE_SCREENSHOTS=1 $(BIN)/pytest tests/e2e -q -n 0 -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/bench_cycle.py --accounts 1000000 --record

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
