"""`zora dev` on a fresh data folder, with nothing configured: a new shop installs from the Shopify stand-in's
listing, adds Zora to Slack on the Slack stand-in's authorize page, picks a channel and sends a test post,
and a shopper's message appears on the stand-in's Slack page. The addresses are the ones `zora dev` prints."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.zora.test_dev_crash import Dev, _free_port

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SHOP = "fresh-dev-shop.myshopify.com"


@pytest.fixture
async def dev(tmp_root: Path) -> AsyncIterator[tuple[Dev, int]]:
    # Under the session's folder: as root, PostgreSQL runs as another user, who cannot enter tmp_path.
    base = tmp_root / f"dev-slack-{secrets.token_hex(3)}"
    base.mkdir()
    port = _free_port()
    # Nothing configured: every SaaS is a stand-in, as on a newcomer's machine (cwd has no .env).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TEMPORAL_", "SLACK_", "ZORA_", "SHOPIFY_", "SMTP_", "PUBLIC_"))
    }
    args = ["dev", "--data-dir", str(base / "data"), "--port", str(port)]
    for flag in ("--temporal-port", "--temporal-ui-port", "--slack-port", "--shopify-port"):
        args += [flag, str(_free_port())]
    args += ["--smtp-port", "0", "--mail-port", "0"]
    out = base / "dev.out"
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zora.app.cli", *args, env=env, cwd=base, stdout=sink, stderr=sink
        )
    running = Dev(proc, out)
    try:
        await running.ready()
        yield running, port
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 120)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _printed(dev: Dev, what: str) -> str:
    found = re.search(rf"^\s+{re.escape(what)}\s+(http\S+)", dev.output(), re.MULTILINE)
    assert found, f"`zora dev` did not print {what!r}:\n{dev.output()[-2000:]}"
    return found.group(1)


async def test_zora_dev_offers_add_to_slack_to_a_new_shop(dev: tuple[Dev, int], browser: Any) -> None:
    running, port = dev
    listing, inbox = _printed(running, "install a shop"), _printed(running, "Slack (stand-in)")
    context = await browser.new_context(locale="en-US")
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    try:
        page = await context.new_page()
        await page.goto(listing)
        await page.get_by_label("Your shop").fill(SHOP)
        await page.get_by_role("button", name="Install").click()
        await page.get_by_role("button", name="Install app").click()
        app = page.frame_locator("#app")
        await expect(app.locator("body")).to_have_attribute("data-ready", "1", timeout=30_000)
        admin = page.url

        await app.get_by_role("button", name=re.compile("^Add to Slack")).click()
        await page.get_by_role("button", name="Allow").click()
        await expect(page.get_by_role("heading", name="Slack connected")).to_be_visible()
        await page.goto(admin)
        await app.get_by_label("Channel for shoppers' conversations").select_option(label="#support")
        await app.get_by_role("button", name="Use this channel").click()
        await expect(app.locator("#slack-state")).to_contain_text(", channel")
        await app.get_by_role("button", name="Send a test message").click()
        await expect(app.locator("#slack-state")).to_contain_text("Test message sent")

        store = await context.new_page()
        await store.goto(f"http://127.0.0.1:{port}/demo?shop={SHOP}")
        await store.evaluate("window.Zora.ready")
        await store.get_by_role("button", name="Chat with us").click()
        await store.get_by_role("textbox", name="Message").fill("Hello from a shop installed in zora dev")
        await store.get_by_role("textbox", name="Message").press("Enter")
        await expect(store.get_by_role("log")).to_contain_text("Delivered", ignore_case=True, timeout=30_000)

        slack = await context.new_page()
        await slack.goto(inbox)
        await expect(slack.locator("body")).to_contain_text("Zora is connected")
        await expect(slack.locator("body")).to_contain_text("Hello from a shop installed in zora dev")
    finally:
        await context.close()
