# Task runner. `make run` and `make test` each set up what they need first.
PY := .venv/bin/python
PORT ?= 8501
HOST ?= 127.0.0.1

.PHONY: setup setup-eval setup-test test-nomodel run run-server seed test test-fast fuzz lint eval beir ablate bench clean

setup:
	@scripts/setup.sh

## The benchmarks' and BEIR's libraries too (the `eval` extra): eval, beir, ablate and bench run it.
setup-eval:
	@scripts/setup.sh --eval

setup-test:
	@scripts/setup.sh --test

seed: setup
	@$(PY) -m ingest.seed

## Set up, seed the knowledge base from library/ when it is empty, and serve the app.
run: seed
	@echo "CTO Assistant on http://$(HOST):$(PORT)"
	@$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

## Like run, over a local Chroma server (started and stopped with the app, data in CTO_DATA_DIR/chroma):
## command-line `ingest` and `kb` commands work while people chat.
run-server: seed
	@$(PY) -m kb run --server --host $(HOST) --port $(PORT)

## Set up and run the whole test suite (unit, integration, browser, eval gate).
test: setup-test
	@$(PY) -m pytest

test-fast: setup-test
	@$(PY) -m pytest -m "not slow and not browser"

## The tests that need no model, on Python 3.12 and 3.13 (or PYTHONS="3.X ..."): each in its own venv
## (.venv-nomodel-3.X) with the package and its `test` extra but no torch; see scripts/nomodel.sh.
test-nomodel:
	@scripts/nomodel.sh $(or $(PYTHONS),3.12 3.13)

## The long fuzz profile (Hypothesis): FUZZ_EXAMPLES cases per property (default 400), with statistics.
## No per-test time limit: a property runs for as long as its cases take (the suite's 900 s limit would
## interrupt it mid-case, which Hypothesis then reports as a flaky failure).
fuzz: setup-test
	@HYPOTHESIS_PROFILE=long $(PY) -m pytest tests/test_fuzz.py -m fuzz -p no:cacheprovider --timeout=0 \
		--hypothesis-show-statistics -q

lint: setup-test
	@$(PY) -m ruff check kb ingest eval ui app.py
	@$(PY) -m mypy kb ingest eval ui app.py

eval: setup-eval
	@$(PY) -m eval run

beir: setup-eval
	@$(PY) -m eval beir

ablate: setup-eval
	@$(PY) -m eval ablate

bench: setup-eval
	@$(PY) -m eval bench

clean:
	rm -rf data reports test-output .pytest_cache
