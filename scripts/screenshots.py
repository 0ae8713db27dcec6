"""Screenshots of the dashboard for the README: docs/log.png and docs/map.png at 1440x900.

Run (after ``cd frontend && npm run build``)::

    .venv/bin/python scripts/screenshots.py [--out docs] [--width 1440]

``--width`` takes them at another window width (900 px high), as a review at 1280 or 1920 px
does; the README's are 1440 px wide.

Starts a hub that reads the recorded capture lab (``lab/recording/lab-demo.pcap``, named by
``lab/recording/lab-demo-snapshot.json``) as the browser tests do, opens the dashboard in Debian's
headless chromium with the tests' flags, and writes the two PNGs. Exits with a message (code 1)
when the hub or chromium cannot start, or when the page logs an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.e2e.chromium import ChromiumMissingError, launch  # noqa: E402
from tests.e2e.hubprocess import RECORDED_LAB, HubStartError, running_hub  # noqa: E402

WIDTH, HEIGHT = 1440, 900
WAIT_MS = 15_000
SETTLE_MS = 2_500  # a few map and stats messages: the layout and the header are final


def shoot_log(page: Page, url: str, path: Path) -> None:
    """The dashboard as a tab opens it: the live log of everything beside the map."""
    page.goto(f"{url}/?q=")
    expect(page.locator("#query-state")).to_have_text("showing: everything", timeout=WAIT_MS)
    expect(page.locator("#log-rows .row.failed").first).to_be_visible(timeout=WAIT_MS)
    page.wait_for_timeout(SETTLE_MS)
    page.screenshot(path=str(path))


def shoot_map(page: Page, url: str, path: Path) -> None:
    """The namespace map, wide, with one namespace chosen from the keyboard (its counts shown)."""
    page.goto(f"{url}/?q=")
    page.wait_for_function("window.podscope.cy.nodes().length >= 4", timeout=WAIT_MS)
    page.locator(".log-pane").evaluate("pane => { pane.style.width = '45%'; }")
    page.wait_for_timeout(SETTLE_MS)
    page.locator("#map").focus()
    for _ in range(page.evaluate("window.podscope.cy.nodes().length")):
        page.keyboard.press("ArrowRight")
        if page.evaluate("window.podscope.cy.nodes('.keyboard').id()") == "namespace:payments":
            break
    page.mouse.move(0, 0)  # no hover text over the keyboard's
    page.screenshot(path=str(path))


def main() -> None:
    """Start the hub and chromium, write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="directory of the PNGs")
    parser.add_argument("--width", type=int, default=WIDTH, help="window width in px")
    options = parser.parse_args()
    out: Path = options.out
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    try:
        with (
            running_hub("screenshots", ("serve", "--mode", "full", *RECORDED_LAB)) as url,
            sync_playwright() as playwright,
        ):
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": options.width, "height": HEIGHT})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            shoot_log(page, url, out / "log.png")
            shoot_map(page, url, out / "map.png")
            browser.close()
    except (HubStartError, ChromiumMissingError) as exc:
        sys.exit(f"screenshots: {exc}")
    if problems:
        sys.exit(f"screenshots: the page logged errors: {problems}")
    print(f"wrote {out / 'log.png'} and {out / 'map.png'}")


if __name__ == "__main__":
    main()
