"""Debian's chromium for Playwright: its path and the flags every browser test launches it with."""

from __future__ import annotations

import os

from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumMissingError(RuntimeError):
    """Debian's chromium is not installed (scripts/setup.sh installs it)."""


def launch(playwright: Playwright) -> Browser:
    """Launch Debian's chromium headless (never a browser Playwright downloaded)."""
    if not os.access(CHROMIUM, os.X_OK):
        raise ChromiumMissingError(f"{CHROMIUM} is missing: run scripts/setup.sh")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
