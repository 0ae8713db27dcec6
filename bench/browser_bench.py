"""Browser bench: entries XADDed at a steady rate into a real hub, watched by one chromium tab.

Run: .venv/bin/python bench/browser_bench.py [--rate 5000] [--seconds 60] [--query ""]

A hub (``manage.py podscope serve`` with REDIS_URL, as bench/hub_bench.py starts it) reads the
stream; the producer of bench/hub_bench.py XADDs ``--rate`` entries/s; one tab of Debian's
headless chromium shows the dashboard with ``--query``. Prints the tab's frame intervals
(p50/p95/p99/max, from requestAnimationFrame), long tasks (count, total, longest, from the
Long Tasks API), its JS heap and DOM node count every 10 s (Chrome DevTools Protocol), and the
entry accounting: produced, received by the tab, missed (dropped by the hub for this slow tab
and shown in its header) and unaccounted (ingested by the hub, yet neither received nor counted
as missed); also what the hub ingested and its CPU: on a loaded machine the hub, not the tab,
may be what falls behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.entrygen import generate  # noqa: E402
from bench.hub_bench import (  # noqa: E402
    POOL,
    REDIS_URL,
    cluster_objects,
    cpu_seconds,
    free_port,
    produce,
    stop_hub,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OBSERVE = """
window.benchFrames = [];
window.benchLongTasks = [];
(() => {
  let last = performance.now();
  const tick = (now) => {
    window.benchFrames.push(now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const task of list.getEntries()) window.benchLongTasks.push(task.duration);
  }).observe({ type: "longtask", buffered: true });
})();
"""
RESET = "() => { window.benchFrames = []; window.benchLongTasks = []; }"


def percentile(values: list[float], fraction: float) -> float:
    """The value at ``fraction`` of the sorted values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def start_hub(prefix: str, port: int, snapshot: Path) -> subprocess.Popen[bytes]:
    """The hub reading the bench stream, with names from a snapshot of the generated pods."""
    snapshot.write_text(
        json.dumps({"kind": "List", "items": cluster_objects(generate(POOL, seed=5))})
    )
    env = dict(os.environ, REDIS_URL=REDIS_URL, PODSCOPE_PREFIX=prefix)
    command = [sys.executable, "manage.py", "podscope", "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--cluster-snapshot", str(snapshot)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def hub_accepted(port: int) -> int:
    """How many entries the hub has ingested so far."""
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=10) as response:
        accepted: int = json.load(response)["accepted"]
        return accepted


async def watch(
    hub: subprocess.Popen[bytes], port: int, query: str, rate: int, seconds: float, prefix: str
) -> None:
    """Open the tab, produce for ``seconds``, sample it, and print the numbers."""
    from urllib.parse import quote  # noqa: PLC0415

    from playwright.async_api import async_playwright  # noqa: PLC0415

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 850})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.add_init_script(OBSERVE)
        await page.goto(f"http://127.0.0.1:{port}/?q={quote(query)}")
        await page.wait_for_function("document.getElementById('status').textContent === 'live'")
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        await page.evaluate(RESET)
        memory: list[tuple[float, float, float]] = []
        started = time.monotonic()

        async def sample() -> None:
            while True:
                metrics = await cdp.send("Performance.getMetrics")
                values = {item["name"]: item["value"] for item in metrics["metrics"]}
                memory.append(
                    (time.monotonic() - started, values["JSHeapUsedSize"] / 2**20, values["Nodes"])
                )
                await asyncio.sleep(10.0)

        sampler = asyncio.create_task(sample())
        sent: dict[str, float] = {}
        hub_cpu_before = cpu_seconds(hub.pid)
        produced = await produce(prefix, rate, seconds, sent)
        hub_cpu = (cpu_seconds(hub.pid) - hub_cpu_before) / seconds
        await asyncio.sleep(5.0)
        accepted = hub_accepted(port)
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        frames: list[float] = await page.evaluate("window.benchFrames")
        tasks: list[float] = await page.evaluate("window.benchLongTasks")
        counts: dict[str, Any] = await page.evaluate(
            "({received: window.podscope.received, missed: window.podscope.missed,"
            " rows: window.podscope.rows(), header: document.getElementById('missed').textContent})"
        )
        watched = time.monotonic() - started
        await browser.close()
    received, missed = counts["received"], counts["missed"]
    print(
        f"browser: {produced} entries XADDed at {rate}/s for {seconds:.0f} s, one tab, "
        f"filter {query!r}; hub ingested {accepted} ({produced - accepted} still behind), "
        f"hub CPU {hub_cpu:.2f} cores"
    )
    print(
        f"frames: {len(frames)} ({len(frames) / watched:.0f}/s), interval p50 "
        f"{percentile(frames, 0.5):.1f} ms, p95 {percentile(frames, 0.95):.1f} ms, p99 "
        f"{percentile(frames, 0.99):.1f} ms, max {max(frames, default=0):.0f} ms"
    )
    print(
        f"long tasks: {len(tasks)}, total {sum(tasks):.0f} ms "
        f"({sum(tasks) / watched / 10:.1f}% of the run), longest {max(tasks, default=0):.0f} ms"
    )
    print(
        "tab memory (s, JS heap MiB, DOM nodes): "
        + ", ".join(f"({t:.0f}, {heap:.1f}, {nodes:.0f})" for t, heap, nodes in memory)
    )
    print(
        f"entries: received {received}, missed {missed} (header: {counts['header']!r}), "
        f"unaccounted {accepted - received - missed}, rows held {counts['rows']}; "
        f"page errors {len(errors)}"
    )


def wait_until_serving(hub: subprocess.Popen[bytes], port: int, seconds: float = 60.0) -> None:
    """Wait until the hub answers HTTP (a loaded machine takes more than a few seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        if hub.poll() is not None:
            raise SystemExit(f"the hub exited with {hub.returncode}")
        try:
            hub_accepted(port)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the hub did not answer within {seconds:.0f} s") from None
            time.sleep(0.3)


def main() -> None:
    """Parse the options and run the bench once."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=int, default=5000, help="entries per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--query", default="", help="the tab's KFL filter")
    options = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        raise SystemExit("frontend/dist is not built: run scripts/setup.sh")
    prefix = f"bench-browser-{secrets.token_hex(4)}"
    port = free_port()
    snapshot = Path(f"/tmp/{prefix}-cluster.json")
    hub = start_hub(prefix, port, snapshot)
    try:
        wait_until_serving(hub, port)
        asyncio.run(watch(hub, port, options.query, options.rate, options.seconds, prefix))
    finally:
        stop_hub(hub, prefix)
        snapshot.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
