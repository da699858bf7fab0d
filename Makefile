# TRIS — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bytecode run test lint types unit postgres-check chromium-check demo bench bench-full chaos fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## The project's bytecode, written ahead (an editable install compiles nothing, and where
## PYTHONDONTWRITEBYTECODE is set every process compiled the sources anew: a rebuild's
## partner process started ~1 s later for it, and so did every server and CLI process the
## tests start). Python ignores a file whose source changed since.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -o 0 -o 1 tris benchmarks

install: $(STAMP)

## Serve the API on SQLite at http://127.0.0.1:8000 (demo data on an empty database).
run: $(STAMP)
	$(BIN)/tris serve --host 127.0.0.1 --port 8000 --demo

## Print the demo scenario's audit timelines on a fresh SQLite file.
demo: $(STAMP)
	rm -f var/demo.db && mkdir -p var
	TRIS_DATABASE_URL=sqlite:///var/demo.db $(BIN)/tris demo

lint: $(STAMP)
	$(BIN)/ruff format --check tris tests benchmarks
	$(BIN)/ruff check tris tests benchmarks

types: $(STAMP)
	$(BIN)/mypy --strict tris

postgres-check:
	@bash scripts/ensure-postgres.sh

chromium-check:
	@bash scripts/ensure-chromium.sh

## Lint, types and every test on SQLite and on a throwaway PostgreSQL, the web pages in
## Debian's Chromium (installed when missing).
test: bytecode postgres-check chromium-check lint types
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: bytecode postgres-check
	$(BIN)/python -O -m benchmarks.run

## The same with the log grown to 1,000,000 events (takes far longer than `make bench`).
bench-full: bytecode postgres-check
	$(BIN)/python -O -m benchmarks.run --full

## Hostile input alone: schemathesis (all phases, all checks, fixed seed, 200 cases per
## operation) against a served API on PostgreSQL; `make test` runs it too.
fuzz: bytecode postgres-check
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

## Faults under load on PostgreSQL (kill -9, database restart); writes benchmarks/results/chaos.json.
chaos: bytecode postgres-check
	$(BIN)/python -m benchmarks.chaos

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis var
