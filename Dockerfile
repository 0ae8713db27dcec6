# The podscope image: the hub (python manage.py podscope serve) and the capture worker
# (python -m capture), as charts/podscope runs them. Build and push: see README.md ("The image").
# The runtime stage keeps no pip, setuptools or build tools; the Python dependencies are exactly
# requirements.lock (pinned with hashes; scripts/lock.py makes it from pyproject.toml).

# The browser dashboard, built into frontend/dist.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# The dependencies in their own virtualenv, binary wheels only, then its pip removed.
FROM python:3.11-slim-bookworm AS dependencies
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/podscope \
    && /opt/podscope/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary=:all: -r /tmp/requirements.lock \
    && /opt/podscope/bin/pip check \
    && /opt/podscope/bin/pip uninstall --yes pip setuptools wheel

# What runs from /app: every package of pyproject.toml's packages.find include list, the
# samples and the built dashboard, compiled once here (the root filesystem is read-only at run
# time). The copies go to an empty stage first, where they cost nothing.
FROM scratch AS sources
COPY manage.py /app/
COPY contract/ /app/contract/
COPY capture/ /app/capture/
COPY kfl/ /app/kfl/
COPY dashboard/ /app/dashboard/
COPY cli/ /app/cli/
COPY lab/ /app/lab/
COPY charts/ /app/charts/
COPY samples/ /app/samples/
COPY --from=frontend /src/frontend/dist/ /app/frontend/dist/

FROM python:3.11-slim-bookworm AS app
COPY --from=sources /app /app
RUN python -m compileall -q /app

FROM python:3.11-slim-bookworm
# libpcap compiles the capture worker's kernel BPF filters. The base image's own pip and
# setuptools go: nothing installs packages at run time. The hub runs as user 10001.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpcap0.8 \
    && rm -rf /var/lib/apt/lists/* \
    && python -m pip uninstall --yes --disable-pip-version-check pip setuptools wheel \
    && groupadd --system --gid 10001 podscope \
    && useradd --system --uid 10001 --gid podscope --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin podscope
ENV PATH=/opt/podscope/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PODSCOPE_FRONTEND_DIST=/app/frontend/dist
# Commands run from /app, so its sources (with the dashboard's templates) are the ones imported.
WORKDIR /app
# The hub runs as this user; the worker's pod runs as root with only NET_RAW.
USER 10001:10001
EXPOSE 8000
CMD ["python", "manage.py", "podscope", "serve", "--bind", "0.0.0.0", "--port", "8000"]
# The large copies come last: on copying storage drivers (vfs) every later step copies them too.
COPY --from=dependencies /opt/podscope /opt/podscope
COPY --from=app /app /app
