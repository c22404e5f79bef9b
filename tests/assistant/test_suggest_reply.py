"""Agent assist (issue 12 §7) on a running Zora with the Slack and model stand-ins: Suggest reply on the
card gives that agent alone an ephemeral draft listing what it used, and Send sends it as their reply,
through the same path as a reply typed in the thread."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.assistant_actions import used_data
from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import open_conversation
from zora.assistant import ToolRecord
from zora.standins.openai import OpenAIStandIn

OTHER_AGENT = "U0AGENT002"
OUTSIDER = "U0OUTSIDE1"
POLICIES = "Returns are free within 30 days."


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[OpenAIStandIn]:
    standin = OpenAIStandIn(api_key="sk-test")
    await standin.start()
    try:
        yield standin
    finally:
        standin.release()
        await standin.stop()


@pytest.fixture(scope="module")
def zora_options(model: OpenAIStandIn) -> dict[str, Any]:
    return {"openai_base_url": model.base_url, "openai_api_key": "sk-test", "openai_model": "zora-demo"}


@pytest.fixture(scope="module")
async def zora(zora: Zora) -> Zora:
    assistant = {"assistant": {"enabled": True, "persona_name": "Ada", "policies": POLICIES}}
    await zora.fetch("UPDATE shops SET settings = settings || $2 WHERE id = $1", zora.shop_id, assistant)
    zora.standin.add_user(OTHER_AGENT, "bo", "Bo Agent")
    zora.standin.add_user(OUTSIDER, "olga", "Olga Outside")
    zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT, OTHER_AGENT])
    return zora


def _buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]}


async def _ephemeral(zora: Zora, user: str, start: int, containing: str) -> dict[str, Any]:
    for _ in range(600):
        for message in zora.standin.ephemeral[start:]:
            if message["user"] == user and containing in json.dumps(message):
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ephemeral message with {containing!r} for {user}")


async def _press(zora: Zora, ts: str | None, action: str, value: str, user: str) -> list[str]:
    before = len(zora.standin.ephemeral)
    assert await zora.standin.press_button(CHANNEL, ts, action, value, user=user) == 200
    return [e["text"] for e in zora.standin.ephemeral[before:] if e["user"] == user]


async def test_suggest_reply_then_send_it_as_the_agents_reply(zora: Zora) -> None:
    opened = await open_conversation(zora, "What is your return policy?")
    card = zora.standin.thread(CHANNEL, opened.root["ts"])[0]
    suggest = _buttons(card)["zora_suggest_reply"]

    start = len(zora.standin.ephemeral)
    told = await _press(zora, opened.root["ts"], "zora_suggest_reply", suggest["value"], AGENT)
    assert told and "drafting" in told[0]
    draft = await _ephemeral(zora, AGENT, start, "Suggested reply")
    assert POLICIES in draft["text"] and "Used: store_policies" in json.dumps(draft["blocks"])
    assert draft["thread_ts"] == opened.root["ts"]
    send = _buttons(draft)["zora_send_suggestion"]
    posted = len(zora.standin.posted)

    # Only the agent it was suggested to may send it.
    assert _press_text(await _press(zora, None, "zora_send_suggestion", send["value"], OTHER_AGENT), "not one Zora")
    assert len(zora.standin.posted) == posted

    assert await _press(zora, None, "zora_send_suggestion", send["value"], AGENT) == []
    shopper = opened.shopper
    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    (reply,) = shopper.agent_messages()
    assert POLICIES in reply["body"] and not reply["assistant"] and reply["author"]["name"] == "Ada Agent"
    sent = zora.standin.posted[posted]
    assert sent["thread_ts"] == opened.root["ts"] and f"Sent by <@{AGENT}>" in json.dumps(sent["blocks"])
    rows = await zora.fetch(
        "SELECT author_id, slack_ts FROM messages WHERE conversation_id = $1::uuid AND direction = 'agent'",
        opened.conversation_id,
    )
    assert [tuple(r) for r in rows] == [(AGENT, sent["ts"])]

    # A second Send sends nothing more.
    assert _press_text(await _press(zora, None, "zora_send_suggestion", send["value"], AGENT), "already")
    assert len(zora.standin.posted) == posted + 1


async def test_only_the_shops_agents_get_suggestions(zora: Zora) -> None:
    opened = await open_conversation(zora, "Do you ship abroad?")
    suggest = _buttons(zora.standin.thread(CHANNEL, opened.root["ts"])[0])["zora_suggest_reply"]
    told = await _press(zora, opened.root["ts"], "zora_suggest_reply", suggest["value"], OUTSIDER)
    assert _press_text(told, "agents may do that")
    rows = await zora.fetch(
        "SELECT 1 FROM assistant_suggestions WHERE conversation_id = $1::uuid", opened.conversation_id
    )
    assert rows == []


async def test_a_model_that_fails_leaves_the_agent_told_not_waiting(zora: Zora, model: OpenAIStandIn) -> None:
    opened = await open_conversation(zora, "Hello?")
    suggest = _buttons(zora.standin.thread(CHANNEL, opened.root["ts"])[0])["zora_suggest_reply"]
    # A 400 is not retried: the workflow ends without a draft and says so to the agent.
    model.fail_next("status", status=400)
    start = len(zora.standin.ephemeral)
    await _press(zora, opened.root["ts"], "zora_suggest_reply", suggest["value"], AGENT)
    told = await _ephemeral(zora, AGENT, start, "could not suggest")
    assert "blocks" not in told or not _buttons(told)
    rows = await zora.fetch(
        "SELECT 1 FROM assistant_suggestions WHERE conversation_id = $1::uuid", opened.conversation_id
    )
    assert rows == []


def _press_text(told: list[str], part: str) -> bool:
    return any(part in text for text in told)


def test_the_draft_lists_the_orders_and_products_the_tools_returned() -> None:
    orders = json.dumps({"orders": [{"name": "#1001", "status": "shipped"}, {"name": "#1002"}]})
    products = json.dumps({"products": [{"title": "Linen shirt", "price": "40.00"}]})
    records = [
        ToolRecord(step=1, name="order_status", arguments="{}", content=orders),
        ToolRecord(step=1, name="product_search", arguments="{}", content=products),
        ToolRecord(step=1, name="store_policies", arguments="{}", content=json.dumps({"policies": "x"})),
        ToolRecord(step=1, name="broken", arguments="", content="{}", refused=True),
    ]
    assert used_data(records) == ["order #1001", "order #1002", "product Linen shirt", "store_policies"]
