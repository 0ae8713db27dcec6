#!/usr/bin/env bash
# Set up podscope on a fresh Debian 12 machine: system packages, a virtualenv in .venv with the
# project and its dev tools, and the built browser dashboard (frontend/dist). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: capture (tcpdump brings libpcap), the lab (iproute2, procps for sysctl),
# Redis for the tests, Node to build the dashboard, Debian's chromium for the browser tests,
# Debian's Docker engine and debootstrap for the image tests (tests/image starts its own dockerd).
need_apt=()
for pkg in python3-venv tcpdump iproute2 redis-server procps docker.io debootstrap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install ${need_apt[*]} (run with sudo)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    echo "setup: installed with apt-get: ${need_apt[*]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    echo "setup: made the virtualenv .venv"
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "setup: installed podscope and its dev tools (pip install -e '.[dev]') into .venv"

# The dashboard is built when frontend/dist is missing or older than its sources.
if [ ! -f frontend/dist/index.html ] \
    || [ -n "$(find frontend/src frontend/index.html frontend/package.json frontend/package-lock.json \
        frontend/vite.config.js -newer frontend/dist/index.html -print -quit)" ]; then
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build --silent >/dev/null)
    echo "setup: built the dashboard (npm ci, vite build) into frontend/dist"
fi
bash scripts/tools.sh
