# The podscope image: the hub (python manage.py podscope serve) and the capture worker
# (python -m capture), as charts/podscope runs them. Build: docker build -t podscope .

# The browser dashboard, built into frontend/dist.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/index.html frontend/vite.config.js ./
COPY frontend/src/ src/
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PODSCOPE_FRONTEND_DIST=/app/frontend/dist
# libpcap compiles the capture worker's kernel BPF filters.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpcap0.8 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY capture/ capture/
COPY kfl/ kfl/
COPY dashboard/ dashboard/
RUN pip install .
# Commands run from /app, so these sources (with the dashboard's templates) are the ones imported.
COPY manage.py ./
COPY samples/ samples/
COPY --from=frontend /src/frontend/dist/ frontend/dist/
# The hub runs as this user; the worker's pod runs as root with only NET_RAW and NET_ADMIN.
RUN groupadd --system --gid 10001 podscope \
    && useradd --system --uid 10001 --gid podscope --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin podscope
USER 10001:10001
EXPOSE 8000
CMD ["python", "manage.py", "podscope", "serve", "--bind", "0.0.0.0", "--port", "8000"]
