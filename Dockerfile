# syntax=docker/dockerfile:1
#
# One image for the four services of mch-platform.
#
#   docker build -t mch-platform:1.0.0 .                          # default command: serve records
#   docker build --build-arg SERVICE=reporting -t mch-reporting .  # default command: serve reporting
#
# Whatever the build arg, the command picks the service at run time:
#
#   docker run mch-platform:1.0.0 serve growth          (set PORT=8003 as well, see below)
#   docker run mch-platform:1.0.0 migrate growth        (one-shot job, never at every start)
#
# The entrypoint is `mch`. Migrations are never run by `serve`: Compose runs them as one-shot
# services and the Helm chart as a pre-install/pre-upgrade hook Job.

# Global build args (usable in FROM lines).
ARG PYTHON_IMAGE=python:3.11-slim-trixie
ARG SERVICE=records

# ---------------------------------------------------------------------------------------------
# build: resolve and install the workspace packages into /opt/venv, pinned by the constraints.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# The same uv as the Makefile.
RUN python -m venv /opt/venv \
 && python -m pip install "uv==0.13.9"

WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
COPY libs/ libs/
COPY services/ services/

# Regular (non-editable) installs: the runtime image holds no source tree, only site-packages.
# Third-party versions come from requirements/constraints.txt, the same pins as development.
# The cache mount keeps downloaded wheels between builds without putting them in a layer.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --python /opt/venv/bin/python \
        --constraint requirements/constraints.txt \
        ./libs/events \
        ./libs/servicekit \
        ./services/records \
        ./services/immunization \
        ./services/growth \
        ./services/reporting \
        ./libs/platform \
 && /opt/venv/bin/mch --help > /dev/null

# ---------------------------------------------------------------------------------------------
# runtime: slim base, the venv, an unprivileged user; nothing else.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="mch-platform" \
      org.opencontainers.image.description="Services of the electronic Mother and Child Health Handbook" \
      org.opencontainers.image.source="https://example.org/mch-platform"

RUN groupadd --system --gid 10001 mch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin mch \
 && mkdir -p /app \
 && chown 10001:10001 /app

COPY --from=build /opt/venv /opt/venv

# HOST must be 0.0.0.0 inside a container (the platform's default is 127.0.0.1).
# Without DATABASE_URL a service falls back to SQLite under ./data: writable /app keeps that
# working for a quick `docker run`; Compose and Helm always set a PostgreSQL URL.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    LOG_LEVEL=INFO

WORKDIR /app

# `mch <command> <service>`; the CMD (set per service below) is `serve <service>`.
# ENTRYPOINT sits here, before the CMDs: setting it in a later stage would reset the CMD.
ENTRYPOINT ["mch"]

# ---------------------------------------------------------------------------------------------
# One stage per service: the port and the default command. `--build-arg SERVICE=...` picks one.
# ---------------------------------------------------------------------------------------------
FROM runtime AS service-records
LABEL org.opencontainers.image.title="mch-platform (records)"
ENV PORT=8001
EXPOSE 8001
CMD ["serve", "records"]

FROM runtime AS service-immunization
LABEL org.opencontainers.image.title="mch-platform (immunization)"
ENV PORT=8002
EXPOSE 8002
CMD ["serve", "immunization"]

FROM runtime AS service-growth
LABEL org.opencontainers.image.title="mch-platform (growth)"
ENV PORT=8003
EXPOSE 8003
CMD ["serve", "growth"]

FROM runtime AS service-reporting
LABEL org.opencontainers.image.title="mch-platform (reporting)"
ENV PORT=8004
EXPOSE 8004
CMD ["serve", "reporting"]

# ---------------------------------------------------------------------------------------------
# final
# ---------------------------------------------------------------------------------------------
FROM service-${SERVICE} AS final

USER 10001:10001

# Liveness of the HTTP listener on $PORT (set per service above, or by Compose/Helm).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8001'), timeout=4)"]
