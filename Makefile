# The two commands a newcomer needs: `make run` and `make test`. Both set up what they need
# (a .venv at the repo root and the exported ONNX model) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite
MODEL_DIR := models/all-MiniLM-L6-v2
MODEL := $(MODEL_DIR)/toolweaver-model.json
export HF_HUB_OFFLINE := 1

.PHONY: run test setup model check lint typecheck security pytest bench eval clean

run: setup model  ## Azurite + the app on http://127.0.0.1:7071/api/ (Ctrl-C stops both)
	$(PY) -m toolweaver.devhost.run


test: setup model check pytest  ## linters, type checks, security lint, then every test

setup: $(STAMP) $(AZURITE)

# Azurite (the local Blob and Queue emulator) from the npm package pinned in package.json.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

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
	$(VENV)/bin/ruff check function_app.py toolweaver tests bench
	$(VENV)/bin/ruff format --check function_app.py toolweaver tests bench

typecheck: setup
	$(VENV)/bin/mypy

security: setup
	$(VENV)/bin/bandit -q -c pyproject.toml -r toolweaver

pytest: setup model
	$(PY) -m pytest

bench: setup model  ## search benchmarks; writes bench/RESULTS.md
	$(PY) bench/search_bench.py

clean:
	rm -rf $(VENV) $(MODEL_DIR) node_modules .pytest_cache .mypy_cache .ruff_cache
