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
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.installed
# The locks: requirements.txt (what Azure's remote build installs) and requirements-dev.txt (every
# extra too, with the same versions: what CI and developers install), both from pyproject.toml.
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
export HF_HUB_OFFLINE := 1

.PHONY: run test setup model check lint typecheck security pytest bench eval clean
.PHONY: iac-setup iac package-check lock

run: setup model  ## Azurite + the app on http://127.0.0.1:7071/api/ (Ctrl-C stops both)
	$(PY) -m toolweaver.devhost.run


test: setup model check iac-setup pytest  ## linters, type checks, security lint, then every test

setup: $(STAMP) $(AZURITE)

# Azurite (the local Blob and Queue emulator) from the npm package pinned in package.json.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

# requirements-dev.txt pins everything (it is the lock), so this installs exactly those versions.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# After changing dependencies in pyproject.toml: pins what changed, keeps every other pin (add
# --upgrade to PIP_COMPILE to move them all). tests/unit/test_packaging.py fails until this runs.
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(PIP_COMPILE) --output-file=requirements.txt pyproject.toml
	$(PIP_COMPILE) --all-extras --constraint=requirements.txt --output-file=requirements-dev.txt pyproject.toml

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

# The infrastructure-as-code tools (checkov, pycep-parser, pathspec) in their own virtual
# environment: checkov pins packages the app's .venv cannot share. tests/infra/ runs them.
iac-setup: $(IAC_STAMP)

$(IAC_STAMP): requirements-iac.txt
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-iac.txt
	touch $(IAC_STAMP)

iac: $(STAMP) model iac-setup  ## infra checks only: Bicep parse and properties, checkov, settings parity, package
	$(PY) -m pytest tests/infra

package-check: model iac-setup  ## list the deployment package from .funcignore, check it, print its size
	$(IAC_VENV)/bin/python scripts/package_check.py

bench: setup model  ## search, HTTP, sandbox, observability and model-graph benchmarks; write bench/RESULTS.md
	$(PY) bench/search_bench.py
	$(PY) bench/http_bench.py
	$(PY) bench/sandbox_bench.py
	$(PY) bench/observability_bench.py
	$(PY) bench/graph_variants.py

clean:
	rm -rf $(VENV) $(IAC_VENV) $(LOCK_VENV) $(MODEL_DIR) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
