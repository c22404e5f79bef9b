"""What the model is told of the conversation (issue 12 §2): the shopper's messages as the user's, the
assistant's own answers as its own, and a person's reply as an assistant message that says who wrote it
(`name` "shop_agent" and "Agent <name>: …"), so the model can tell the team's words from its own. Checked at
the OpenAI stand-in, which takes the request as the real API does; the whole path runs (widget, Slack
stand-in, the Temporal dev server, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.card import ACTION_RESOLVE
from tests.assistant.turns_harness import POLICIES, AiZora, ai_messages, assistant_on, card, running_ai_zora, until
from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import set_shop_settings
from zora.assistant import AGENT_NAME, ChatMessage, system_prompt


@pytest.fixture(scope="module")
async def ai(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    async with running_ai_zora(infra, database_url) as running:
        yield running


def told(ai: AiZora, words: str) -> list[dict[str, Any]]:
    """The messages of the latest model request whose last user message is `words`."""
    for request in reversed(ai.model.requests):
        users = [m for m in request["messages"] if m["role"] == "user"]
        if users and users[-1]["content"] == words:
            return list(request["messages"])
    return []


async def resolved(zora: Zora, cid: str) -> bool:
    rows = await zora.fetch("SELECT status FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and rows[0]["status"] == "resolved"


async def test_the_model_tells_an_agents_reply_from_its_own(ai: AiZora) -> None:
    zora = ai.zora
    # A person answers first (the assistant is off), then resolves the conversation.
    await set_shop_settings(zora)
    session = await zora.session()
    shopper, cid = await zora.shopper(session["token"]), session["conversation_id"]
    assert (await shopper.send("Where is my parcel?"))["ok"]
    root = await until(lambda: card(zora, cid))
    reply = "It ships tomorrow, I promise."
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], reply, user=AGENT) == 200
    await until(lambda: any(m["body"] == reply for m in shopper.received))
    [agent] = await zora.fetch(
        "SELECT author_name FROM messages WHERE conversation_id = $1::uuid AND body = $2", cid, reply
    )
    root = await card(zora, cid)
    assert await zora.standin.press_button(CHANNEL, root["ts"], ACTION_RESOLVE, cid, user=AGENT) == 200
    await until(lambda: resolved(zora, cid))
    # The shop turns its assistant on; the shopper comes back, the assistant answers.
    await assistant_on(zora)
    assert (await shopper.send("What is your return policy?"))["ok"]
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert (await shopper.send("Thanks, and the shipping?"))["ok"]
    messages = await until(lambda: told(ai, "Thanks, and the shipping?"))

    persona_prompt = system_prompt("Ada", "")
    assert messages[0] == {"role": "system", "content": persona_prompt}
    assert 'start with "Agent <name>:"' in persona_prompt
    history = [m for m in messages[1:] if m["role"] != "tool" and not m.get("tool_calls")]
    answer = next(m for m in ai_messages(shopper) if POLICIES in m["body"])
    assert history == [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "name": AGENT_NAME, "content": f"Agent {agent['author_name']}: {reply}"},
        {"role": "user", "content": "What is your return policy?"},
        {"role": "assistant", "content": answer["body"]},
        {"role": "user", "content": "Thanks, and the shipping?"},
    ]


def test_a_persons_name_is_what_the_format_allows() -> None:
    # The API's pattern for `name` (the stand-in takes what OpenAI takes); the person's own name, with
    # spaces or any script, goes in the text.
    assert ChatMessage(role="assistant", name=AGENT_NAME, content="x").wire()["name"] == AGENT_NAME
    with pytest.raises(ValueError, match="pattern"):
        ChatMessage(role="assistant", name="Ana María", content="x")
