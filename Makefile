# vectorops developer entry points. `make dev` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all dev test lint unit integration e2e e2e-kind crds crds-check rules dashboards envtest helm kstatus chart-files chart-test system-deps venv lock clean

all: test

UV_VERSION := 0.13.9

# Exactly the versions in uv.lock (the ones the tests passed with); uv itself is pinned too.
# --inexact: uv lives in the same venv and must not remove itself. --compile-bytecode: this machine sets
# PYTHONDONTWRITEBYTECODE, so without it every test process would recompile torch and transformers.
$(STAMP): pyproject.toml uv.lock devtools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q
	$(BIN)/uv --version 2>/dev/null | grep -q ' $(UV_VERSION)' || $(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --frozen --inexact --all-extras --compile-bytecode --python $(BIN)/python
	touch $(STAMP)

# Refresh uv.lock after changing dependencies in pyproject.toml (then commit it).
lock: $(STAMP)
	$(BIN)/uv lock

venv: $(STAMP)

system-deps:
	bash hack/system-deps.sh

# etcd, kube-apiserver and kubectl built from the Go module proxy, cached in ~/.cache/vectorops.
envtest:
	bash hack/envtest/build.sh >/dev/null

# helm built from the Go module proxy (version pinned in hack/helm/build.sh), cached beside the control plane.
helm:
	bash hack/helm/build.sh >/dev/null

# kstatus (the health library of Flux, kpt and cli-utils) around hack/kstatus/main.go, cached the same way;
# tests/integration/test_kstatus.py runs it on every kind.
kstatus:
	bash hack/kstatus/build.sh >/dev/null

# The chart renders its CRDs, dashboards and the operator's rule group from copies of crds/,
# dashboards/configmaps.yaml and `vectorops rules` (Helm can only read files inside the chart);
# tests/chart/test_chart_files.py fails when they differ.
chart-files: $(STAMP)
	rm -f charts/vectorops/files/crds/*.yaml
	cp crds/*.yaml charts/vectorops/files/crds/
	cp dashboards/configmaps.yaml charts/vectorops/files/dashboards/configmaps.yaml
	$(BIN)/vectorops rules --output build/rules >/dev/null
	mkdir -p charts/vectorops/files/rules
	cp build/rules/operator.rules.yaml charts/vectorops/files/rules/operator.rules.yaml

# The chart alone: lint, render, server-side dry runs, install/upgrade/uninstall, RBAC, Argo CD health checks.
chart-test: $(STAMP) system-deps envtest helm
	$(BIN)/pytest tests/chart $(PYTEST_ARGS)

crds: $(STAMP)
	$(BIN)/vectorops crds --output crds
	$(MAKE) chart-files

crds-check: $(STAMP)
	$(BIN)/vectorops crds --output crds --check

# The Prometheus rule files the operator's builders make for every object in examples/ (promtool-checked
# in tests/unit/test_alert_rules.py), one per object, into build/rules/.
rules: $(STAMP)
	$(BIN)/vectorops rules --output build/rules

# The Grafana dashboards (operator, embedders, gateway and providers, collections) and configmaps.yaml,
# one ConfigMap per dashboard for the Grafana chart's sidecar, into dashboards/ (commit them;
# tests/unit/test_dashboards.py fails when they are stale).
dashboards: $(STAMP)
	$(BIN)/vectorops dashboards --output dashboards
	$(MAKE) chart-files

lint: $(STAMP) crds-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) system-deps envtest
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

# End to end against E2E_KUBECONFIG (any cluster; e2e/README.md), else a local control plane with the operator,
# embedder and gateway as processes (the same suite runs in `make test`).
e2e: $(STAMP) system-deps envtest
	$(BIN)/pytest e2e $(PYTEST_ARGS)

# The same suite in a kind cluster (needs a Docker engine; e2e/README.md): the image built and loaded, the
# chart installed, real Qdrant, PostgreSQL and Redis, then embed, ingest and search through the gateway.
e2e-kind: $(STAMP) envtest helm
	PYTEST_ARGS='$(PYTEST_ARGS)' bash hack/e2e-kind.sh

# Everything CI runs: set-up, lint, type checks, layer contracts, CRD drift, all tests (e2e on a local control plane).
test: $(STAMP) system-deps envtest helm kstatus lint
	$(BIN)/pytest tests e2e $(PYTEST_ARGS)

# The embedded default: local control plane + operator + examples/quickstart, until Ctrl-C.
dev: $(STAMP) system-deps envtest
	$(BIN)/vectorops-dev up

clean:
	rm -rf $(VENV) .dev .mypy_cache .ruff_cache .pytest_cache .hypothesis
