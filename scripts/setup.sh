#!/usr/bin/env bash
# Set up podscope on a fresh Debian 12 machine: system packages, a virtualenv in .venv with the
# project and its dev tools, and a running Redis for the tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in python3-venv tcpdump iproute2 redis-server procps; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install ${need_apt[*]} (run with sudo)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# The browser dashboard: Node to build it, Debian's chromium for the end-to-end tests.
need_apt=()
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
fi
if [ ! -f frontend/dist/index.html ] \
    || [ -n "$(find frontend/src frontend/index.html frontend/package.json frontend/package-lock.json \
        frontend/vite.config.js -newer frontend/dist/index.html -print -quit)" ]; then
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build --silent >/dev/null)
fi
