# One image for the operator (and, with the [embedder] extra, the embedder and gateway).
#   docker build -t vectorops .                                   # operator, CPU
#   docker build --build-arg EXTRAS=embedder -t vectorops-embedder .
#   docker build --build-arg BASE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 --build-arg EXTRAS=embedder ...  (CUDA)
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
ARG EXTRAS=""
RUN command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*)
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY embedder ./embedder
COPY crds ./crds
RUN python3 -m venv /opt/vectorops \
 && /opt/vectorops/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/vectorops/bin/pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"

FROM ${BASE}
RUN command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*)
COPY --from=build /opt/vectorops /opt/vectorops
# Restricted pod security: a fixed non-root UID, nothing written outside mounted volumes.
USER 65532:65532
ENV PATH=/opt/vectorops/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["vectorops"]
CMD ["operator"]
