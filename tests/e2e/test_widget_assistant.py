"""The widget's assistant part in a real browser (Debian's chromium): a streamed answer grows in one
bubble (a retried attempt starts it over) and is replaced by the stored message, which is labelled AI
in the shopper's language; a typing indicator; "Talk to a person". A shop without the assistant loads
none of it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import open_store
from tests.e2e.test_widget_browser import expect, message
from tests.harness import Zora
from tests.helpers import set_shop_settings
from widget.emitter import ShopperEmitter
from zora.models import Author, StoredMessage
from zora.push import push
from zora.widget_events import AssistantDelta, AssistantTyping, NewMessage


async def shopper_writes(zora: Zora, page: Any, text: str) -> uuid.UUID:
    """The shopper opens the panel and writes; the conversation's id (the widget's socket is in its room)."""
    await page.get_by_role("button", name="Chat with us").click()
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill(text)
    await composer.press("Enter")
    # Stored ("Sent"), or already posted to Slack ("Delivered") by the time the browser looks.
    await expect(message(page, text)).to_contain_text(re.compile("Sent|Delivered"))
    detail = await page.evaluate("window.Zora.ready")
    return uuid.UUID(detail["conversation_id"])


async def test_a_streamed_answer_its_label_and_talk_to_a_person(zora: Zora, context: Any) -> None:
    await set_shop_settings(zora, assistant={"enabled": True, "persona_name": "Robin", "offer_person_first": True})
    asked: list[Any] = []
    namespace = zora.widget()
    handle = namespace.trigger_event

    async def trigger_event(event: str, *args: Any) -> Any:
        # ai-turns' handler hands the conversation over; here the widget only has to ask.
        if event == "ask_for_person":
            asked.append(args[1])
            return {"ok": True}
        return await handle(event, *args)

    namespace.trigger_event = trigger_event  # type: ignore[method-assign]
    page = await context.new_page()
    await open_store(zora, page)
    conversation = await shopper_writes(zora, page, "Where is my parcel?")
    # Offered up front, as the shop wants.
    person = page.get_by_role("button", name="Talk to a person")
    await expect(person).to_be_visible()

    emitter = ShopperEmitter.from_settings(zora.settings)
    turn = f"turn:{conversation}:1"
    log = page.get_by_role("log")
    try:

        def delta(attempt: int, offset: int, text: str) -> AssistantDelta:
            return AssistantDelta(
                conversation_id=conversation, turn=turn, step=1, attempt=attempt, offset=offset, text=text
            )

        await push(emitter, AssistantTyping(conversation_id=conversation, turn=turn, typing=True))
        await expect(log.locator(".typing")).to_contain_text("Writing an answer…")
        await push(emitter, delta(1, 0, "Your parcel "))
        await push(emitter, delta(1, 12, "is in Ly"))
        streaming = log.locator(f'[data-turn="{turn}"]')
        await expect(streaming.locator(".bubble")).to_have_text("Your parcel is in Ly")
        await expect(streaming).to_contain_text("Robin")
        await expect(streaming.locator(".ai")).to_have_text("AI")
        # The attempt failed and was retried: its text starts over; a late piece of the old one is ignored.
        await push(emitter, delta(2, 0, "It left "))
        await push(emitter, delta(1, 20, "on"))
        await push(emitter, delta(2, 8, "today."))
        await expect(streaming.locator(".bubble")).to_have_text("It left today.")

        stored = StoredMessage(
            conversation_id=conversation,
            seq=2,
            client_id=turn,
            direction="agent",
            author=Author(name="Robin"),
            body="It left today.",
            created_at=datetime.now(UTC),
            status="stored",
            assistant=True,
        )
        await push(emitter, NewMessage.of(stored))
    finally:
        await emitter.close()
    # The final message replaces the bubble: the answer is there once, labelled, and typing is over.
    await expect(streaming).to_have_count(0)
    answer = message(page, "It left today.")
    await expect(answer).to_have_count(1)
    await expect(answer.locator(".author")).to_have_text("RobinAI")
    await expect(log.locator(".typing")).to_have_count(0)

    # In French, the label and the button follow.
    await page.evaluate("window.Zora.setLocale('fr')")
    await expect(answer.locator(".ai")).to_have_text("IA")
    person = page.get_by_role("button", name="Parler à une personne")
    await person.click()
    await expect(page.get_by_role("button", name="Une personne va bientôt rejoindre la conversation.")).to_be_disabled()
    assert asked == [{}]


async def test_without_the_assistant_nothing_of_it_loads(zora: Zora, context: Any) -> None:
    await set_shop_settings(zora, assistant={"enabled": False})
    page = await context.new_page()
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    await open_store(zora, page)
    await shopper_writes(zora, page, "Hello?")
    assert not any(url.endswith("/widget-ai.js") for url in loaded)
    assert await page.evaluate("typeof window.ZoraAI") == "undefined"
    await expect(page.get_by_role("button", name="Talk to a person")).to_have_count(0)


@pytest.fixture(autouse=True)
async def _no_handler_left(zora: Zora) -> Any:
    yield
    zora.widget().__dict__.pop("trigger_event", None)
