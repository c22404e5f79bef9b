"""The widget in a real browser (Debian's chromium), found by role and accessible name: statuses,
keyboard, replies while away, edits and deletes, languages, and the pre-chat form."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import set_shop_settings

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect


async def thread_of(zora: Zora, text: str) -> str:
    while not any(p.get("text") == text for p in zora.standin.posted):
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
    return str(next(p for p in zora.standin.posted if p.get("text") == text)["thread_ts"])


def message(page: Any, text: str) -> Any:
    """A message in the log, by its text (the element carries its status in its meta line)."""
    return page.get_by_role("log").locator(".msg", has_text=text)


async def test_keyboard_statuses_and_seen(zora: Zora, context: Any) -> None:
    page = await context.new_page()
    await open_store(zora, page)
    launcher = page.get_by_role("button", name="Chat with us")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    # Keyboard only: focus the launcher, Enter opens, the composer takes focus, Escape closes.
    await launcher.focus()
    await page.keyboard.press("Enter")
    composer = page.get_by_role("textbox", name="Message")
    await expect(composer).to_be_focused()
    await expect(page.get_by_role("dialog", name="Chat")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog", name="Chat")).to_be_hidden()
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")

    # Offline, a message waits as "Sending…"; back online it is sent and reaches Slack.
    await context.set_offline(True)
    await composer.fill("Is the mug dishwasher safe?")
    await composer.press("Enter")
    mine = message(page, "Is the mug dishwasher safe?")
    await expect(mine).to_contain_text("Sending…")
    await context.set_offline(False)
    await expect(mine).to_contain_text("Delivered")
    thread_ts = await thread_of(zora, "Is the mug dishwasher safe?")

    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "Yes, it is.", user=AGENT) == 200
    await expect(message(page, "Yes, it is.")).to_contain_text("Ada Agent")
    # An agent answered after it: the shopper's message is seen.
    await expect(mine).to_contain_text("Seen")
    # The open panel showed the reply: the widget reported it delivered and seen.
    seq = int(await message(page, "Yes, it is.").get_attribute("data-seq"))
    while (rows := await zora.fetch("SELECT delivered_upto, seen_upto FROM shopper_receipts")) == [] or rows[0][
        "seen_upto"
    ] < seq:
        await page.wait_for_timeout(50)
    assert rows[0]["delivered_upto"] >= seq

    # A reload shows the same history, each message once.
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await expect(message(page, "Yes, it is.")).to_have_count(1)
    await expect(message(page, "Is the mug dishwasher safe?")).to_contain_text("Seen")


async def test_replies_sent_while_away_are_there_on_return_and_edits_apply(zora: Zora, context: Any) -> None:
    page = await context.new_page()
    await open_store(zora, page)
    await page.get_by_role("button", name="Chat with us").click()
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Do you restock linen?")
    await composer.press("Enter")
    await expect(message(page, "Do you restock linen?")).to_contain_text("Delivered")
    thread_ts = await thread_of(zora, "Do you restock linen?")
    await page.close()  # the shopper leaves the store

    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "Next week!", user=AGENT) == 200
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "Sage green too.", user=AGENT) == 200

    page = await context.new_page()  # and comes back later
    await open_store(zora, page)
    launcher = page.get_by_role("button", name="Chat with us")
    await expect(launcher).to_contain_text("2")  # unread badge
    await launcher.click()
    log = page.get_by_role("log")
    await expect(message(page, "Next week!")).to_have_count(1)
    await expect(message(page, "Sage green too.")).to_have_count(1)

    # The agent edits one reply and deletes the other in Slack.
    ts_of = {m["text"]: m["ts"] for m in zora.standin.thread(CHANNEL, thread_ts)}
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "hidden": True,
        "ts": "1900000200.000100",
        "event_ts": "1900000200.000100",
        "channel_type": "channel",
        "message": {
            "type": "message",
            "user": AGENT,
            "text": "Next Tuesday!",
            "ts": ts_of["Next week!"],
            "thread_ts": thread_ts,
            "edited": {"user": AGENT, "ts": "1900000200.000000"},
        },
    }
    assert await zora.standin.deliver_event(edit) == 200
    await expect(message(page, "Next Tuesday!")).to_contain_text("edited")
    delete = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "ts": "1900000201.000100",
        "deleted_ts": ts_of["Sage green too."],
        "event_ts": "1900000201.000100",
        "channel_type": "channel",
        "previous_message": {
            "type": "message",
            "user": AGENT,
            "text": "Sage green too.",
            "ts": ts_of["Sage green too."],
            "thread_ts": thread_ts,
        },
    }
    assert await zora.standin.deliver_event(delete) == 200
    await expect(log).not_to_contain_text("Sage green too.")
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await expect(message(page, "Next Tuesday!")).to_have_count(1)
    await expect(page.get_by_role("log")).not_to_contain_text("Sage green too.")


async def test_language_follows_the_storefront_and_can_switch(zora: Zora, context: Any) -> None:
    page = await context.new_page()
    # A Shopify storefront in Japanese (the browser says English).
    await page.add_init_script("window.Shopify = {locale: 'ja'}")
    await open_store(zora, page)
    launcher = page.get_by_role("button", name="チャットで問い合わせ")
    await launcher.click()
    await expect(page.get_by_role("textbox", name="メッセージ")).to_be_visible()
    await expect(page.get_by_role("button", name="チャットを閉じる")).to_be_visible()

    # The storefront's language picker switches the widget.
    assert await page.evaluate("window.Zora.setLocale('fr-CA')") == "fr"
    await expect(page.get_by_role("button", name="Discutez avec nous")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_have_attribute("placeholder", "Écrivez un message…")
    await expect(page.get_by_role("log", name="Messages")).to_contain_text("Bonjour")
    assert await page.evaluate("window.Zora.setLocale('zh-Hans-CN')") == "zh-CN"
    await expect(page.get_by_role("button", name="联系我们")).to_be_visible()


async def test_merchant_greeting_and_required_prechat_form(zora: Zora, context: Any) -> None:
    await set_shop_settings(zora, prechat="required", greetings={"de": "Willkommen bei Slow Goods!"})
    try:
        page = await context.new_page()
        await page.add_init_script("window.Shopify = {locale: 'de'}")
        await open_store(zora, page)
        await page.get_by_role("button", name="Chatten Sie mit uns").click()
        await expect(page.get_by_role("log")).to_contain_text("Willkommen bei Slow Goods!")
        email = page.get_by_role("textbox", name="E-Mail")
        await page.get_by_role("textbox", name="Name").fill("Jonas")
        await email.fill("jonas@example")
        await page.get_by_role("button", name="Chat starten").click()
        await expect(page.get_by_role("alert").first).to_contain_text("gültige E-Mail-Adresse")
        await expect(page.get_by_role("button", name="Überspringen")).to_be_hidden()
        await email.fill("jonas@example.com")
        await page.get_by_role("button", name="Chat starten").click()
        composer = page.get_by_role("textbox", name="Nachricht")
        await expect(composer).to_be_visible()
        shopper_id = await page.evaluate("window.Zora.ready.then((d) => d.shopper_id)")
        while (
            not (rows := await zora.fetch("SELECT name, email FROM shoppers WHERE id = $1::uuid", shopper_id))
            or rows[0]["email"] is None
        ):
            await page.wait_for_timeout(50)
        assert (rows[0]["name"], rows[0]["email"]) == ("Jonas", "jonas@example.com")
    finally:
        await set_shop_settings(zora)
