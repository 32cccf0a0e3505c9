# The two commands a newcomer needs: `make run` and `make test`. Both set up what they need
# (a .venv at the repo root and the exported ONNX model) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL_DIR := models/all-MiniLM-L6-v2
MODEL := $(MODEL_DIR)/toolweaver-model.json
export HF_HUB_OFFLINE := 1

.PHONY: run test setup model check lint typecheck security pytest bench eval clean

run: setup model  ## search the bundled demo catalog
	$(PY) -m toolweaver demo

test: setup model check pytest  ## linters, type checks, security lint, then every test

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

model: $(MODEL)

# The model is exported once; delete $(MODEL_DIR) to export it again.
$(MODEL): | $(STAMP)
	$(PY) -m toolweaver export-model --out $(MODEL_DIR)

check: lint typecheck security

lint: setup
	$(VENV)/bin/ruff check toolweaver tests bench
	$(VENV)/bin/ruff format --check toolweaver tests bench

typecheck: setup
	$(VENV)/bin/mypy

security: setup
	$(VENV)/bin/bandit -q -c pyproject.toml -r toolweaver

pytest: setup model
	$(PY) -m pytest

bench: setup model  ## search benchmarks; writes bench/RESULTS.md
	$(PY) bench/search_bench.py

clean:
	rm -rf $(VENV) $(MODEL_DIR) .pytest_cache .mypy_cache .ruff_cache
