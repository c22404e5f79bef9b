"""Widget benchmark: gzipped bundle size, and time from page load to `zora:ready` in Chromium.

    .venv/bin/python -m bench.widget [--loads 20]

Starts the embedded servers and Zora (bench/stack.py), then loads the demo storefront in Debian's
chromium: each "cold" load is a new browser context (no stored token: /widget/session issues an
identity), each "warm" load a reload of the same page (stored token and message cache).
`ready` is `performance.now()` when window.Zora.ready resolves: the bundle is loaded, the session
answered, the socket connected and `resume` acknowledged.

The floor, measured in the same run and browser: a page from a bare aiohttp server that loads the
same bundle bytes (parsed and run, with the widget told not to start), makes one JSON POST and
opens a raw websocket for one round trip. That is the least any widget of this size doing
session + socket + first answer must cost here; Zora's number is compared with it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import tempfile
from pathlib import Path

from aiohttp import WSMsgType, web

from bench.stack import CHANNEL, embedded_infra, running_zora
from zora.standins.slack import SlackStandIn

BUNDLE = Path(__file__).resolve().parents[1] / "widget" / "static" / "widget.js"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, min {ordered[0]:.0f} ms (n={len(ordered)})"


_FLOOR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>floor</title></head><body>
<script>window.Zora = {ready: Promise.resolve()};</script>
<script src="/floor.js"></script>
<script>
window.floorReady = (async () => {
  await (await fetch('/session', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                  body: JSON.stringify({shop: 'bench.myshopify.com'})})).json();
  await new Promise((resolve, reject) => {
    const ws = new WebSocket('ws://' + location.host + '/ws');
    ws.onopen = () => ws.send('{"since_seq": 0}');
    ws.onmessage = () => { resolve(); ws.close(); };
    ws.onerror = reject;
  });
  return performance.now();
})();
</script></body></html>"""


async def _floor_server(bundle: bytes) -> web.AppRunner:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=_FLOOR_PAGE, content_type="text/html")

    async def script(_request: web.Request) -> web.Response:
        # Served as Zora serves widget.js (same bytes, same caching).
        return web.Response(
            body=bundle, content_type="application/javascript", headers={"Cache-Control": "public, max-age=300"}
        )

    async def session(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"token": "x" * 300, "widget": {}})

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str('{"ok": true, "messages": []}')
        return ws

    app = web.Application()
    app.router.add_get("/floor", page)
    app.router.add_get("/floor.js", script)
    app.router.add_post("/session", session)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


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
                url = f"{zora.base_url}/demo?shop=bench.myshopify.com"
                ready = "window.Zora.ready.then(() => performance.now())"
                floor = await _floor_server(raw)
                host, port = floor.addresses[0][:2]
                floor_url = f"http://{host}:{port}/floor"
                runs: dict[str, list[float]] = {"zora cold": [], "zora warm": [], "floor cold": [], "floor warm": []}
                try:
                    async with async_playwright() as pw:
                        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
                        # Interleaved, so both see the same machine.
                        for _ in range(loads):
                            for name, address, probe in (
                                ("zora", url, ready),
                                ("floor", floor_url, "window.floorReady"),
                            ):
                                context = await browser.new_context()
                                page = await context.new_page()
                                await page.goto(address)
                                runs[f"{name} cold"].append(await page.evaluate(probe))
                                await page.reload()
                                runs[f"{name} warm"].append(await page.evaluate(probe))
                                await context.close()
                        await browser.close()
                finally:
                    await floor.cleanup()
                for kind in ("cold", "warm"):
                    ratio = statistics.median(runs[f"zora {kind}"]) / statistics.median(runs[f"floor {kind}"])
                    print(f"load -> ready, {kind}: zora  {_summary(runs[f'zora {kind}'])}")
                    print(f"load -> ready, {kind}: floor {_summary(runs[f'floor {kind}'])}")
                    print(f"load -> ready, {kind}: median {ratio:.2f}x the floor")
    finally:
        await standin.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=20)
    asyncio.run(main(parser.parse_args().loads))
