# One image for the operator, the embedder and the gateway (entry point chosen by arguments).
# The default image carries the [embedder] extra (torch, sentence-transformers), because the operator's
# EmbeddingModel Deployments run this same image; versions come from uv.lock, as in the tests.
#   docker build -t vectorops .
#   docker build --build-arg EXTRAS= -t vectorops-operator-only .      # smaller: no embedder
#   docker build --build-arg BASE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 -t vectorops-cuda .
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
ARG EXTRAS="embedder"
ARG UV_VERSION=0.13.9
# Only a base without Python (the CUDA runtime images) installs it, in the version its distribution has:
# the base image's tag pins the distribution, so the package versions are pinned by it.
# hadolint ignore=DL3008
RUN command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*)
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# The workspace member is only read for the lock; the dev tools are not installed (no dev extra).
COPY devtools/pyproject.toml ./devtools/pyproject.toml
COPY operator ./operator
COPY embedder ./embedder
COPY crds ./crds
RUN UV_PROJECT_ENVIRONMENT=/opt/vectorops /opt/uv/bin/uv sync --frozen --no-editable --no-cache \
      --python "$(command -v python3)" ${EXTRAS:+--extra ${EXTRAS}}

FROM ${BASE}
# hadolint ignore=DL3008
RUN command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*)
COPY --from=build /opt/vectorops /opt/vectorops
# Restricted pod security: a fixed non-root UID, nothing written outside mounted volumes.
USER 65532:65532
ENV PATH=/opt/vectorops/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["vectorops"]
CMD ["operator"]
