"""An emailed link in a real browser (issue 10 item 2): the widget never silently drops the
conversation it has. A link for another conversation asks first; "Skip" keeps the current one (and
the link's code), the button opens the linked one; a used link says so, and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from activities.email import EmailActivities
from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import Shopper, running_zora
from tests.helpers import session_ref
from zora.mail import Mailer
from zora.models import DigestRequest

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect


async def test_a_link_for_another_conversation_asks_first(infra: Any, database_url: str, browser: Any) -> None:
    async with running_zora(infra, database_url, widget_link_url="http://127.0.0.1/") as zora:
        # Another conversation, with a missed-reply link to it (the digest activity makes the code).
        other = await zora.session()
        writer = await zora.shopper(other["token"])
        assert (await writer.send("written in the linked conversation"))["ok"]
        activities = EmailActivities(zora.services.pool, Mailer(zora.settings), zora.settings)
        ref = session_ref(zora, other)
        async with zora.services.pool.acquire() as conn:
            link = await activities.link(conn, DigestRequest(ref=ref, upto_seq=1))
        code = link.split("#zora-code=", 1)[1]
        demo = f"{zora.base_url}/demo?shop={zora.shop}"

        context = await browser.new_context(locale="en-US")
        try:
            page = await context.new_page()
            await page.goto(demo)
            await page.evaluate("window.Zora.ready")
            await page.get_by_role("button", name="Chat with us").click()
            composer = page.get_by_role("textbox", name="Message")
            await composer.fill("my own question")
            await composer.press("Enter")
            log = page.get_by_role("log")
            await expect(log.get_by_text("my own question")).to_be_visible()
            # Stored (it reached Slack): the conversation has a message.
            while not any(p.get("text") == "my own question" for p in zora.standin.posted):
                await zora.standin.wait_for_posts(len(zora.standin.posted) + 1, timeout=30)

            # The link, opened on this storefront: the panel asks, the current conversation stays.
            await page.goto("about:blank")
            await page.goto(f"{demo}#zora-code={code}")
            await expect(page.get_by_role("button", name="Open the linked conversation")).to_be_visible()
            await expect(log.get_by_text("my own question")).to_be_visible()
            assert "zora-code" not in page.url  # taken out of the address bar
            await page.get_by_role("button", name="Skip").click()
            await expect(page.get_by_role("button", name="Open the linked conversation")).to_have_count(0)
            await expect(log.get_by_text("my own question")).to_be_visible()
            rows = await zora.fetch(
                "SELECT used_at FROM shopper_codes WHERE conversation_id = $1::uuid", other["conversation_id"]
            )
            assert [r["used_at"] for r in rows] == [None]  # "Skip" did not spend it

            # Again, and this time the shopper opens it.
            await page.goto("about:blank")
            await page.goto(f"{demo}#zora-code={code}")
            await page.get_by_role("button", name="Open the linked conversation").click()
            await expect(log.get_by_text("written in the linked conversation")).to_be_visible()
            await expect(log.get_by_text("my own question")).to_have_count(0)

            # The same link once more: used, and the widget says so; its conversation goes on.
            await page.goto("about:blank")
            await page.goto(f"{demo}#zora-code={code}")
            await expect(page.get_by_role("alert").filter(has_text="This link no longer works.")).to_be_visible()
            await expect(log.get_by_text("written in the linked conversation")).to_be_visible()
        finally:
            await context.close()


async def test_signing_out_revokes_the_token_and_starts_over(infra: Any, database_url: str, browser: Any) -> None:
    async with running_zora(infra, database_url) as zora:
        context = await browser.new_context(locale="en-US")
        try:
            page = await context.new_page()
            await open_store(zora, page)
            await page.get_by_role("button", name="Chat with us").click()
            composer = page.get_by_role("textbox", name="Message")
            await composer.fill("before signing out")
            await composer.press("Enter")
            log = page.get_by_role("log")
            while not any(p.get("text") == "before signing out" for p in zora.standin.posted):
                await zora.standin.wait_for_posts(len(zora.standin.posted) + 1, timeout=30)
            token = await page.evaluate(f"localStorage.getItem('zora:{zora.shop}:token')")

            assert (await page.evaluate("window.Zora.signOut().then((r) => r.status)")) == 200
            # The server closed the socket; the widget came back as someone new, with nothing of before.
            await expect(log.get_by_text("before signing out")).to_have_count(0, timeout=15000)
            await expect(page.get_by_role("status")).to_have_text("Online", timeout=15000)
            renewed = await page.evaluate(f"localStorage.getItem('zora:{zora.shop}:token')")
            assert renewed and renewed != token
            with pytest.raises(socketio.exceptions.ConnectionError):
                await Shopper(token).connect(zora.base_url)
        finally:
            await context.close()
