"""The storefront widget's page-load impact, scored the way Lighthouse scores performance (issue 11 §1).

    .venv/bin/python -m bench.widget_impact [--loads 9] [--profile mobile|desktop]

Shopify asks that an app lower a store's Lighthouse performance score by no more than 10 points. This loads
a storefront-like page (a theme's CSS and script, a hero image, a product grid) in Debian's chromium, with
and without the widget embedded as the theme app extension embeds it (extensions/zora-chat/blocks/chat.liquid:
`<script src=".../widget.js" data-shop data-proxy async>` at the end of the body, the session asked through
the shop's app proxy, which a stand-in storefront server forwards to Zora signed as Shopify signs it).
Loads alternate (without, with, without, ...), each in a fresh browser context (cold cache).

Each load runs under Lighthouse's throttling for the profile, applied through the DevTools protocol as
Lighthouse's "devtools" throttling does (mobile: CPU 4x slower, 562.5 ms request latency, 1,474.56 kbit/s
down, 675 kbit/s up, a 412x823 screen; desktop: no CPU slowdown, 40 ms, 10,240 kbit/s). Measured in the
page: First Contentful Paint and Largest Contentful Paint (paint timing), Cumulative Layout Shift (the
largest session window: shifts less than 1 s apart, at most 5 s), Total Blocking Time (every long task
after FCP, counted past 50 ms, until 3 s after the page and the widget are ready). Scores: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import statistics
import tempfile
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bench.stack import BOT_TOKEN, CHANNEL, SHOP, SIGNING_SECRET, embedded_infra
from bench.widget import CHROMIUM, FLAGS
from zora.app.assembly import serving_web, worker_for
from zora.app.dev import ensure_shop
from zora.services import open_services
from zora.settings import Settings
from zora.shopify.signing import app_proxy_signature
from zora.standins.slack import SlackStandIn

API_SECRET = "bench-app-secret"
# Lighthouse 10's weights; Speed Index (10) is not measured here, so the score is over the other 90.
WEIGHTS = {"fcp": 10, "lcp": 25, "tbt": 30, "cls": 25}
# Lighthouse's scoring curves (log-normal; the value scoring 0.9 and the one scoring 0.5) per profile.
CURVES = {
    "mobile": {"fcp": (1800, 3000), "lcp": (2500, 4000), "tbt": (200, 600), "cls": (0.1, 0.25)},
    "desktop": {"fcp": (934, 1600), "lcp": (1200, 2400), "tbt": (150, 350), "cls": (0.1, 0.25)},
}
# Φ⁻¹(0.9): the p10 value lies this many standard deviations (of the log) below the median.
_Z90 = 1.2815515655446004


@dataclass(frozen=True)
class Profile:
    width: int
    height: int
    scale: float
    mobile: bool
    cpu_slowdown: float
    latency_ms: float
    down_kbps: float
    up_kbps: float


PROFILES = {
    "mobile": Profile(412, 823, 1.75, True, 4, 562.5, 1474.56, 675),
    "desktop": Profile(1350, 940, 1, False, 1, 40, 10240, 10240),
}


def metric_score(value: float, p10: float, median: float) -> float:
    """0..1: the complementary log-normal CDF with `median` at 0.5 and `p10` at 0.9."""
    if value <= 0:
        return 1.0
    sigma = (math.log(median) - math.log(p10)) / _Z90
    return 0.5 * math.erfc((math.log(value) - math.log(median)) / (sigma * math.sqrt(2)))


def performance_score(metrics: dict[str, float], profile: str) -> float:
    """0..100, the weighted mean of the metric scores."""
    curves = CURVES[profile]
    total = sum(WEIGHTS[name] * metric_score(metrics[name], *curves[name]) for name in WEIGHTS)
    return 100 * total / sum(WEIGHTS.values())


OBSERVE = """
window.__m = {fcp: 0, lcp: 0, shifts: [], tasks: []};
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.name === 'first-contentful-paint') __m.fcp = e.startTime; })
  .observe({type: 'paint', buffered: true});
new PerformanceObserver((l) => { for (const e of l.getEntries()) __m.lcp = e.startTime; })
  .observe({type: 'largest-contentful-paint', buffered: true});
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) __m.shifts.push([e.startTime, e.value]); })
  .observe({type: 'layout-shift', buffered: true});
new PerformanceObserver((l) => { for (const e of l.getEntries()) __m.tasks.push([e.startTime, e.duration]); })
  .observe({type: 'longtask', buffered: true});
"""


def cls_of(shifts: list[list[float]]) -> float:
    """The largest session window: shifts less than 1 s apart, the window at most 5 s long."""
    best = current = 0.0
    start = last = -1e9
    for at, value in sorted(shifts):
        if at - last > 1000 or at - start > 5000:
            start, current = at, 0.0
        current += value
        last = at
        best = max(best, current)
    return best


def tbt_of(fcp: float, tasks: list[list[float]]) -> float:
    return sum(max(0.0, duration - 50) for start, duration in tasks if start >= fcp)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _png(width: int, height: int, seed: int) -> bytes:
    """A photo-sized image (soft gradient with grain, so it does not compress to nothing)."""
    rows = bytearray()
    noise = secrets.token_bytes(width * height)
    for y in range(height):
        rows.append(0)
        for x in range(width):
            grain = noise[(y // 4) * width + x // 4] % 8
            rows += bytes(((seed * 40 + x // 4 + grain) % 256, (120 + y // 4 + grain) % 256, (200 - y // 5) % 256))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )


_CSS = (
    "*{box-sizing:border-box}body{margin:0;font:16px/1.5 Georgia,serif;color:#2b2118;background:#fbf8f3}"
    "header{display:flex;justify-content:space-between;padding:1rem 2rem;border-bottom:1px solid #e4dccf}"
    ".hero img{width:100%;height:auto;display:block}.grid{display:grid;gap:1rem;padding:1rem;"
    "grid-template-columns:repeat(auto-fill,minmax(160px,1fr))}.card img{width:100%;height:auto}"
) * 8  # a theme's stylesheet is tens of kilobytes
# A theme's own script: some work at start (menus, cart drawer, a slider), run deferred.
_THEME_JS = (
    "(function(){var t=performance.now();var a=[];while(performance.now()-t<25){a.push(Math.random())}"
    + ("document.querySelectorAll('.card').forEach(function(c){c.dataset.ready='1'});})();\n")
    + "// "
    + "x" * 20000
)


def storefront_page(zora_url: str, widget: bool) -> str:
    cards = "".join(
        f'<div class="card"><img src="/assets/p{i}.png" width="240" height="240" alt="Product {i}">'
        f"<h3>Product {i}</h3><p>$2{i}.00</p></div>"
        for i in range(8)
    )
    # What the app embed block renders (chat.liquid), with this shop's values.
    embed = (
        f'<script src="{zora_url}/widget.js" data-shop="{SHOP}" data-proxy="/apps/zora/session" data-locale="en"'
        ' data-color="#1f6feb" data-position="right" async></script>'
        if widget
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,'
        ' initial-scale=1"><title>Slow Goods</title><link rel="stylesheet" href="/assets/theme.css">'
        '<script src="/assets/theme.js" defer></script></head><body><header><strong>Slow Goods</strong><nav>Shop'
        ' · About · Cart</nav></header><section class="hero"><img src="/assets/hero.png" width="800" height="400"'
        ' alt="Mugs on a table"></section><h1>Slow goods for slow mornings</h1><p>Hand-thrown mugs, linen and'
        f' small-batch coffee.</p><main class="grid">{cards}</main><footer>© Slow Goods</footer>{embed}</body></html>'
    )


@asynccontextmanager
async def storefront(zora_url: list[str]) -> AsyncIterator[str]:
    """The shop's storefront: the page (/plain, /with-widget), its assets, and the app proxy to Zora."""
    assets = {"theme.css": (_CSS.encode(), "text/css"), "theme.js": (_THEME_JS.encode(), "application/javascript")}
    assets["hero.png"] = (_png(800, 400, 1), "image/png")
    assets.update({f"p{i}.png": (_png(240, 240, i + 2), "image/png") for i in range(8)})

    async def page(request: web.Request) -> web.Response:
        html = storefront_page(zora_url[0], request.path == "/with-widget")
        return web.Response(text=html, content_type="text/html")

    async def asset(request: web.Request) -> web.Response:
        body, kind = assets[request.match_info["name"]]
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "public, max-age=3600"})

    async def proxy(request: web.Request) -> web.Response:
        # Shopify's app proxy: signs the query (shop, no customer signed in) and forwards to Zora.
        query = [("shop", SHOP), ("logged_in_customer_id", ""), ("path_prefix", "/apps/zora")]
        query.append(("timestamp", str(int(time.time()))))
        signed = urlencode([*query, ("signature", app_proxy_signature(API_SECRET, query))])
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{zora_url[0]}/proxy/session?{signed}",
                data=await request.read(),
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/plain", page)
    app.router.add_get("/with-widget", page)
    app.router.add_get("/assets/{name}", asset)
    app.router.add_post("/apps/zora/session", proxy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def zora_for(store: str) -> AsyncIterator[str]:
    """Zora (web and worker) on the embedded servers, taking the storefront's origin; its base URL."""
    slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    slack.add_channel(CHANNEL, "support")
    await slack.start()
    try:
        with tempfile.TemporaryDirectory(prefix="zwi-") as root:
            async with embedded_infra(Path(root)) as infra:
                settings = Settings(
                    _env_file=None,
                    database_url=infra.database_url,
                    redis_url=infra.redis_url,
                    temporal_address=infra.temporal_address,
                    temporal_task_queue=f"zora-impact-{uuid.uuid4().hex[:8]}",
                    zora_secret_key=secrets.token_urlsafe(32),
                    slack_bot_token=BOT_TOKEN,
                    slack_signing_secret=SIGNING_SECRET,
                    slack_api_url=slack.base_url,
                    shopify_api_key="bench-app",
                    shopify_api_secret=API_SECRET,
                    cors_allowed_origins=[store],
                    log_level="WARNING",
                )
                async with open_services(settings) as services:
                    await ensure_shop(services.pool, SHOP, "Slow Goods", CHANNEL)
                    async with serving_web(settings, services, access_log=False) as served:
                        slack.events_url = f"{served.url}/slack/events"
                        async with worker_for(services) as worker, worker:
                            yield served.url
    finally:
        await slack.stop()


async def load_once(browser: Any, url: str, profile: Profile, widget: bool) -> dict[str, float]:
    """One cold load under the profile's throttling; the page's FCP, LCP, CLS and TBT."""
    context = await browser.new_context(
        viewport={"width": profile.width, "height": profile.height},
        device_scale_factor=profile.scale,
        is_mobile=profile.mobile,
    )
    try:
        await context.add_init_script(OBSERVE)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": profile.latency_ms,
                "downloadThroughput": profile.down_kbps * 1024 / 8,
                "uploadThroughput": profile.up_kbps * 1024 / 8,
            },
        )
        await cdp.send("Emulation.setCPUThrottlingRate", {"rate": profile.cpu_slowdown})
        await page.goto(url, wait_until="load", timeout=120_000)
        if widget:
            await page.wait_for_function("window.Zora && window.Zora.ready", timeout=120_000)
            await page.evaluate("window.Zora.ready")
        # Long tasks and shifts that follow the load (the widget's start) are counted too.
        await page.wait_for_timeout(3000)
        raw = await page.evaluate("window.__m")
    finally:
        await context.close()
    return {
        "fcp": float(raw["fcp"]),
        "lcp": float(raw["lcp"]),
        "cls": cls_of(raw["shifts"]),
        "tbt": tbt_of(float(raw["fcp"]), raw["tasks"]),
    }


async def measure(loads: int, profile_name: str) -> dict[str, list[dict[str, float]]]:
    from playwright.async_api import async_playwright

    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    zora_url: list[str] = [""]
    async with storefront(zora_url) as store, zora_for(store) as zora:
        zora_url[0] = zora
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            try:
                # One load of each first, not counted: the first ever load also pays Zora's first session.
                await load_once(browser, f"{store}/with-widget", PROFILES[profile_name], True)
                for _ in range(loads):
                    for kind, path in (("without", "/plain"), ("with", "/with-widget")):
                        metrics = await load_once(browser, store + path, PROFILES[profile_name], kind == "with")
                        metrics["score"] = performance_score(metrics, profile_name)
                        runs[kind].append(metrics)
            finally:
                await browser.close()
    return runs


def report(runs: dict[str, list[dict[str, float]]], profile: str, load_before: str) -> None:
    print(f"profile {profile}, {len(runs['with'])} loads each; load average before: {load_before}, after: {_load()}")
    for kind in ("without", "with"):
        rows = runs[kind]
        print(
            f"  {kind:7} score median {statistics.median(r['score'] for r in rows):5.1f}"
            f" (min {min(r['score'] for r in rows):.1f}, max {max(r['score'] for r in rows):.1f})"
            + "".join(
                f"  {name.upper()} {statistics.median(r[name] for r in rows):.{3 if name == 'cls' else 0}f}"
                for name in ("fcp", "lcp", "tbt", "cls")
            )
        )
    drops = sorted(a["score"] - b["score"] for a, b in zip(runs["without"], runs["with"], strict=True))
    print(
        f"  impact (points lost, each pair of loads): median {statistics.median(drops):.1f},"
        f" min {drops[0]:.1f}, max {drops[-1]:.1f}"
    )


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=9)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="mobile")
    args = parser.parse_args()
    before = _load()
    runs = asyncio.run(measure(args.loads, args.profile))
    report(runs, args.profile, before)


if __name__ == "__main__":
    main()
