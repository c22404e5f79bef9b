"""The settings page's Web Vitals (LCP, CLS, INP) in Chromium, through the Shopify admin stand-in frame.

    .venv/bin/zora dev                      # prints "settings page  http://127.0.0.1:8091/dev/shopify/admin?shop=..."
    .venv/bin/python -m bench.admin_page URL [--loads 7]

Each load is a new browser context (nothing cached) with Shopify's CDN refused, as where it is out of
reach (App Bridge and Polaris then fail at once; in Shopify admin they load from the CDN first, which this
does not measure). LCP and CLS are read inside the app's frame (each document has its own) with the
browser's PerformanceObserver, after the page has loaded the settings (`body[data-ready="1"]`); INP as the
longest of a few interactions (tick a box, type a greeting, discard) from the Event Timing API.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from typing import Any

from playwright.async_api import async_playwright

from bench.widget import CHROMIUM, FLAGS

OBSERVE = """
window.__lcp = 0; window.__cls = 0; window.__inp = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.interactionId) window.__inp = Math.max(window.__inp, e.duration); })
  .observe({type: 'event', buffered: true, durationThreshold: 16});
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__lcp = e.startTime; })
  .observe({type: 'largest-contentful-paint', buffered: true});
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
  .observe({type: 'layout-shift', buffered: true});
"""


async def measure(url: str, loads: int) -> list[tuple[float, float, float]]:
    results: list[tuple[float, float, float]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            for _ in range(loads):
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
                await context.add_init_script(OBSERVE)
                page = await context.new_page()
                await page.goto(url)
                await page.frame_locator("#app").locator("body[data-ready='1']").wait_for(timeout=30_000)
                app: Any = next(f for f in page.frames if f != page.main_frame)
                # Interactions, for INP: tick a box (the save bar appears), type a greeting, press Discard.
                await app.get_by_label("Assign new conversations automatically (round robin)").click()
                await app.get_by_role("textbox", name="Greeting").first.type("Hello")
                await app.get_by_role("button", name="Discard").first.click()
                # Event entries and late layout shifts are reported a moment after they happen.
                await page.wait_for_timeout(500)
                results.append(
                    (
                        float(await app.evaluate("window.__lcp")),
                        float(await app.evaluate("window.__cls")),
                        float(await app.evaluate("window.__inp")),
                    )
                )
                await context.close()
        finally:
            await browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the stand-in admin frame URL `zora dev` prints")
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    results = asyncio.run(measure(args.url, args.loads))
    lcps = sorted(lcp for lcp, _, _ in results)
    print(f"loads {len(results)}")
    print(f"LCP ms  median {statistics.median(lcps):.0f}  max {lcps[-1]:.0f}  all {[round(v) for v in lcps]}")
    print(f"CLS     max {max(cls for _, cls, _ in results):.3f}")
    # 0 means no interaction took 16 ms or more (the Event Timing API's smallest threshold).
    print(f"INP ms  worst interaction over all loads {max(inp for _, _, inp in results):.0f}")


if __name__ == "__main__":
    main()
