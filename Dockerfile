# The parlae-mcp image, built by `make image` (docker or podman). It holds the runtime lock only (every package
# hash-checked), runs as a non-root user and writes nothing to its own filesystem, so ECS runs it with a
# read-only root (terraform/ecs.tf). docs/deploy.md has the build, push and release steps.
#
# The base is pinned by digest. To move to a newer Python 3.11 patch release, read the current digest with
# `docker buildx imagetools inspect python:3.11-slim-bookworm` and replace it here (tests/release checks that the
# Python version still matches pyproject.toml).
FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS base

# --- build: a virtual environment with the locked dependencies and the project, no compilers kept ---------------
FROM base AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/parlae
COPY requirements.lock ./
RUN /opt/parlae/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY server ./server
COPY tools ./tools
COPY webhook ./webhook
COPY sandbox ./sandbox
# The project is built with the locked setuptools (no build isolation: nothing unpinned is fetched), then every
# module is compiled once here, since the running container cannot write bytecode.
RUN /opt/parlae/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/parlae/bin/python -m compileall -q /opt/parlae/lib

# --- runtime ------------------------------------------------------------------------------------------------------
FROM base AS runtime
ARG REVISION=unknown
LABEL org.opencontainers.image.title="parlae-mcp" \
      org.opencontainers.image.description="MCP tool server for AI dental receptionists (Sikka), HIPAA safeguards built in" \
      org.opencontainers.image.licenses="LicenseRef-Proprietary" \
      org.opencontainers.image.revision="${REVISION}"
# PARLAE_WORKERS is `serve --workers` (server processes per container; more than one needs PostgreSQL).
ENV PATH=/opt/parlae/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PARLAE_WORKERS=1
RUN groupadd --system --gid 10001 parlae \
    && useradd --system --uid 10001 --gid parlae --home-dir /app --no-create-home --shell /usr/sbin/nologin parlae \
    && mkdir -p /app/var \
    && chown parlae:parlae /app/var
COPY --from=build /opt/parlae /opt/parlae
# The only writable path: var/ for the demo's SQLite file (`serve --demo`); production uses PostgreSQL.
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["parlae-mcp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
