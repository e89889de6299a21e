# botmon: every target sets up what it needs; `make demo` and `make test` work on a fresh machine.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system.sh scripts/install-assets.sh
	bash scripts/install-system.sh
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	bash scripts/install-assets.sh
	touch $(STAMP)

DEMO_ARGS ?=

demo: install
	$(BIN)/botmon demo $(DEMO_ARGS)

test: install
	bash scripts/run-tests.sh

check: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install
	bash scripts/run-benchmarks.sh

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache test-artifacts
