# vectorops developer entry points. `make dev` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all dev test lint unit integration e2e crds crds-check envtest system-deps venv clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q -p $(BIN)/python -e ".[dev,embedder]"
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	bash hack/system-deps.sh

# etcd, kube-apiserver and kubectl built from the Go module proxy, cached in ~/.cache/vectorops.
envtest:
	bash hack/envtest/build.sh >/dev/null

crds: $(STAMP)
	$(BIN)/vectorops crds --output crds

crds-check: $(STAMP)
	$(BIN)/vectorops crds --output crds --check

lint: $(STAMP) crds-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) system-deps envtest
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

# End to end against E2E_KUBECONFIG (kind + real Qdrant: also set E2E_QDRANT_URL), else a local control plane.
e2e: $(STAMP) system-deps envtest
	$(BIN)/pytest e2e $(PYTEST_ARGS)

# Everything CI runs: set-up, lint, type checks, layer contracts, CRD drift, all tests (e2e on a local control plane).
test: $(STAMP) system-deps envtest lint
	$(BIN)/pytest tests e2e $(PYTEST_ARGS)

# The embedded default: local control plane + operator + examples/quickstart, until Ctrl-C.
dev: $(STAMP) system-deps envtest
	$(BIN)/vectorops dev

clean:
	rm -rf $(VENV) .dev .mypy_cache .ruff_cache .pytest_cache .hypothesis
