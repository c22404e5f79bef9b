"""Widget benchmark: gzipped bundle size, and time from page load to `zora:ready` in Chromium.

    .venv/bin/python -m bench.widget [--loads 20]

Starts the embedded servers and Zora (bench/stack.py), then loads the demo storefront in Debian's
chromium: each "cold" load is a new browser context (no stored token: /widget/session issues an
identity), each "warm" load a reload of the same page (stored token and message cache).
`ready` is `performance.now()` when window.Zora.ready resolves: the bundle is loaded, the session
answered, the socket connected and `resume` acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import tempfile
from pathlib import Path

from bench.stack import CHANNEL, embedded_infra, running_zora
from zora.standins.slack import SlackStandIn

BUNDLE = Path(__file__).resolve().parents[1] / "widget" / "static" / "widget.js"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, min {ordered[0]:.0f} ms (n={len(ordered)})"


async def main(loads: int) -> None:
    from playwright.async_api import async_playwright

    raw = BUNDLE.read_bytes()
    print(f"bundle: {len(raw)} bytes, {len(gzip.compress(raw, compresslevel=9))} bytes gzip -9")
    standin = SlackStandIn(bot_token="xoxb-bench-token", signing_secret="bench-signing-secret")
    standin.add_channel(CHANNEL, "support")
    await standin.start()
    try:
        with tempfile.TemporaryDirectory(prefix="zw-") as root:
            async with embedded_infra(Path(root)) as infra, running_zora(infra, standin) as zora:
                url = f"{zora.base_url}/demo"
                ready = "window.Zora.ready.then(() => performance.now())"
                cold: list[float] = []
                warm: list[float] = []
                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                    for _ in range(loads):
                        context = await browser.new_context()
                        page = await context.new_page()
                        await page.goto(url.replace("/demo", "/demo?shop=bench.myshopify.com"))
                        cold.append(await page.evaluate(ready))
                        await page.reload()
                        warm.append(await page.evaluate(ready))
                        await context.close()
                    await browser.close()
                print(f"load -> ready, cold (new shopper): {_summary(cold)}")
                print(f"load -> ready, warm (reload):      {_summary(warm)}")
    finally:
        await standin.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=20)
    asyncio.run(main(parser.parse_args().loads))
