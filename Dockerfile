# The selfdrive server image: docs/docker.md says how to build, run and upgrade it.
#
#   docker build -t selfdrive .
#   docker run -v selfdrive:/data -p 8080:8080 selfdrive
#
# BASE is any Debian-like image with python3 (3.11 or later) and its venv
# module; both stages use it, so the venv built in the first one finds the
# same interpreter at the same path in the second. CI, which cannot reach
# Docker Hub, passes a local Debian 12 image (../shared/ci/docker-env.sh).
#
# No "# syntax=" line on purpose: it would pull a frontend image from Docker
# Hub. RUN --mount needs BuildKit (the default of Docker 23 and later; set
# DOCKER_BUILDKIT=1 on older ones).
ARG BASE=python:3.11-slim

# ---------------------------------------------------------- requirements
# The dependencies, read from pyproject.toml alone. The install below copies
# just this list, so an edit elsewhere in pyproject.toml (a lint setting, a
# test marker) or in the code leaves the big layer cached.
FROM ${BASE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb")); \
print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' \
    >/requirements.txt

# ---------------------------------------------------------------- build stage
FROM ${BASE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/selfdrive

# Wheels only: every dependency ships them for amd64 and arm64, and the image
# has no compiler to build one.
#
# Behind a TLS-intercepting proxy, pass its CA as a build secret (never a
# build arg or a COPY, which would keep it in the image's history):
#   docker build --secret id=ca,src=proxy-ca.pem .
# It is appended to the system bundle in a temp file for pip alone.
COPY --from=requirements /requirements.txt /tmp/
RUN --mount=type=secret,id=ca,required=false \
    set -eu; \
    if [ -s /run/secrets/ca ]; then \
        { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true; cat /run/secrets/ca; } \
            >/tmp/pip-ca.pem; \
        export PIP_CERT=/tmp/pip-ca.pem; \
    fi; \
    /opt/selfdrive/bin/pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements.txt; \
    rm -f /tmp/pip-ca.pem

# selfdrive itself: no network needed (setuptools came with the layer above),
# then pip and setuptools leave the venv, which the server never needs.
COPY pyproject.toml README.md /src/
COPY selfdrive /src/selfdrive
RUN /opt/selfdrive/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src \
    && /opt/selfdrive/bin/pip uninstall -y -q setuptools pip

# ---------------------------------------------------------------- final stage
FROM ${BASE}

# A fixed, unprivileged uid (not 1000, which is often a real user on the
# host), so that a bind-mounted data dir can be chowned to it in advance.
# /data is made here, owned by that user and private (the server would make
# it 0700 itself): Docker copies its owner and mode into a new named volume.
RUN groupadd --system --gid 10001 selfdrive \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin selfdrive \
    && install -d -m 0700 -o selfdrive -g selfdrive /data

COPY --from=build /opt/selfdrive /opt/selfdrive

# Every setting can also come from SELFDRIVE_<SECTION>_<KEY> or a file named
# by SELFDRIVE_CONFIG (docs/docker.md). These three make the container work
# with no configuration at all; being environment, they also beat data_dir,
# host and port in a config file.
ENV PATH=/opt/selfdrive/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SELFDRIVE_DATA=/data \
    SELFDRIVE_HOST=0.0.0.0 \
    SELFDRIVE_PORT=8080

# Numeric, so that runtimes that check for a non-root user (Kubernetes'
# runAsNonRoot) can tell without reading /etc/passwd.
USER 10001:10001
VOLUME /data
EXPOSE 8080

# python rather than curl, which the image does not have. It asks the port
# from the environment, as the server does (the long name wins; a port in a
# config file loses to SELFDRIVE_PORT anyway). HTTPS served by selfdrive
# itself needs a --health-cmd of its own (docs/docker.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; e = os.environ.get; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (e('SELFDRIVE_SERVER_PORT') or e('SELFDRIVE_PORT') or '8080'), timeout=4)"]

# The server traps SIGTERM (docker stop) and lets running requests finish;
# give it the time to: docker stop -t 30, or stop_grace_period in compose.
ENTRYPOINT ["selfdrive"]
CMD ["serve"]
