# otel-lite-collector as a container image.
#   docker build -t otel-lite-collector .        (podman / buildah build the same file)
#   docker run -p 4317:4317 -p 4318:4318 -p 13133:13133 -p 8888:8888 otel-lite-collector
# Configuration: /etc/otel-lite/config.yaml (deploy/docker/config.yaml; mount your own over it).
# Persistent queue (file_storage extension): put its `directory` under /var/lib/otel-lite, a volume.

ARG PYTHON_VERSION=3.11

# --- build: the collector and its runtime dependencies into a virtualenv ---------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# a compiler for the one dependency that ships no wheel: Apache Thrift's C compact decoder (the
# Jaeger UDP receiver's fast path; without it thrift installs pure Python and the receiver is slower).
# Not pinned: this stage is thrown away, and the compiler's version changes nothing the image keeps.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# only what the package is built from (.dockerignore keeps tests, benchmarks and docs out)
COPY pyproject.toml README.md ./
COPY collector/ collector/
COPY shims/ shims/
COPY otel_lite/ otel_lite/
# the `collector` extra is the collector's runtime stack and nothing of the test or lint tools
RUN python -m venv /opt/otel-lite \
    && /opt/otel-lite/bin/pip install --no-cache-dir '.[collector]' \
    && /opt/otel-lite/bin/otel-lite-collector components > /dev/null

# --- runtime: the virtualenv on a clean slim Python, run as a dedicated user ----------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 otel-lite \
    && useradd --system --uid 10001 --gid otel-lite --no-create-home --home-dir /var/lib/otel-lite \
        --shell /usr/sbin/nologin otel-lite \
    && install -d -o otel-lite -g otel-lite -m 0750 /var/lib/otel-lite
COPY --from=build /opt/otel-lite /opt/otel-lite
COPY deploy/docker/config.yaml /etc/otel-lite/config.yaml
ENV PATH=/opt/otel-lite/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# numeric, so Kubernetes runAsNonRoot can check it without reading /etc/passwd
USER 10001:10001
WORKDIR /var/lib/otel-lite
VOLUME ["/var/lib/otel-lite"]
# OTLP gRPC, OTLP HTTP, health_check, the collector's own Prometheus metrics
EXPOSE 4317 4318 13133 8888
# SIGTERM (docker stop, the kubelet) drains: readiness answers 503 at once, receivers stop, queues
# flush (in-memory: one attempt per batch within 30 s; persistent: kept on disk for the next start)
STOPSIGNAL SIGTERM
ENTRYPOINT ["otel-lite-collector"]
CMD ["--config", "/etc/otel-lite/config.yaml"]
