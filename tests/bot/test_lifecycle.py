"""The card's buttons: claim (one winner), release, resolve, reopen; assignment by first reply."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import open_conversation
from zora.models import conversation_workflow_id

OTHER_AGENT = "U0AGENT002"


@pytest.fixture(scope="module")
def zora(zora: Zora) -> Zora:
    zora.standin.add_user(OTHER_AGENT, "bo", "Bo Agent")
    # Both are the shop's agents: members of its channel (bot/access.py).
    zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT, OTHER_AGENT])
    return zora


async def _conversation(zora: Zora) -> tuple[Shopper, str, str]:
    opened = await open_conversation(zora, "help please")
    return opened.shopper, opened.root["ts"], opened.conversation_id


def _card(zora: Zora, root_ts: str) -> dict[str, Any]:
    return zora.standin.thread(CHANNEL, root_ts)[0]


def _buttons(card: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def _row(zora: Zora, conversation_id: str) -> Any:
    return (await zora.fetch("SELECT status, assignee FROM conversations WHERE id = $1::uuid", conversation_id))[0]


async def test_two_agents_claim_at_once_and_exactly_one_wins(zora: Zora) -> None:
    _, root_ts, cid = await _conversation(zora)
    assert _buttons(_card(zora, root_ts)) == ["zora_claim", "zora_resolve"]
    ephemeral_before = len(zora.standin.ephemeral)
    statuses = await asyncio.gather(
        zora.standin.press_button(CHANNEL, root_ts, "zora_claim", cid, user=AGENT),
        zora.standin.press_button(CHANNEL, root_ts, "zora_claim", cid, user=OTHER_AGENT),
    )
    assert statuses == [200, 200]
    row = await _row(zora, cid)
    assert row["status"] == "assigned" and row["assignee"] in (AGENT, OTHER_AGENT)
    loser = OTHER_AGENT if row["assignee"] == AGENT else AGENT
    told = zora.standin.ephemeral[ephemeral_before:]
    assert [(e["user"], e["text"]) for e in told] == [(loser, f"Already claimed by <@{row['assignee']}>.")]
    card = _card(zora, root_ts)
    assert f"<@{row['assignee']}>" in json.dumps(card["blocks"]) and _buttons(card) == ["zora_release", "zora_resolve"]


async def test_release_resolve_and_the_shopper_writing_again(zora: Zora) -> None:
    shopper, root_ts, cid = await _conversation(zora)
    assert await zora.standin.press_button(CHANNEL, root_ts, "zora_claim", cid) == 200
    assert await zora.standin.press_button(CHANNEL, root_ts, "zora_release", cid) == 200
    assert dict(await _row(zora, cid)) == {"status": "open", "assignee": None}
    assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
    assert (await _row(zora, cid))["status"] == "resolved"
    assert _buttons(_card(zora, root_ts)) == ["zora_reopen"]

    # Resolving twice is refused, with a reason only the presser sees.
    before = len(zora.standin.ephemeral)
    assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
    assert zora.standin.ephemeral[before:][0]["text"] == "This conversation is already resolved."

    # The shopper writes again: same thread, open again, the card says so.
    posted = len(zora.standin.posted)
    assert (await shopper.send("one more thing"))["ok"]
    posts = await zora.standin.wait_for_posts(posted + 1)
    assert posts[-1]["thread_ts"] == root_ts
    for _ in range(300):
        if (await _row(zora, cid))["status"] == "open" and _buttons(_card(zora, root_ts))[0] == "zora_claim":
            break
        await asyncio.sleep(0.05)
    assert dict(await _row(zora, cid)) == {"status": "open", "assignee": None}
    assert _buttons(_card(zora, root_ts)) == ["zora_claim", "zora_resolve"]


async def test_first_agent_to_reply_is_assigned(zora: Zora) -> None:
    shopper, root_ts, cid = await _conversation(zora)
    assert await zora.standin.agent_reply(CHANNEL, root_ts, "I'm on it", user=OTHER_AGENT) == 200
    assert await zora.standin.agent_reply(CHANNEL, root_ts, "me too", user=AGENT) == 200
    await shopper.wait_for(lambda: len(shopper.agent_messages()) == 2)
    for _ in range(100):
        if (await _row(zora, cid))["assignee"] is not None:
            break
        await asyncio.sleep(0.05)
    assert dict(await _row(zora, cid)) == {"status": "assigned", "assignee": OTHER_AGENT}


async def test_reopen_a_closed_conversation_starts_a_new_run(zora: Zora) -> None:
    _, root_ts, cid = await _conversation(zora)
    # The workflow starts in the background, off the shopper's path: signal it once it runs.
    await zora.workflow_run_id(cid)
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    await handle.signal("close", {"reason": "test"})
    await handle.result()
    assert (await _row(zora, cid))["status"] == "closed"
    assert await zora.standin.press_button(CHANNEL, root_ts, "zora_reopen", cid) == 200
    # The status is written first, then the card is edited: wait for both.
    for _ in range(300):
        if (await _row(zora, cid))["status"] == "open" and _buttons(_card(zora, root_ts))[0] == "zora_claim":
            break
        await asyncio.sleep(0.05)
    assert (await _row(zora, cid))["status"] == "open"
    assert _buttons(_card(zora, root_ts)) == ["zora_claim", "zora_resolve"]


async def test_a_button_on_a_message_zora_does_not_know_is_answered_plainly(zora: Zora) -> None:
    # A bot message outside any conversation: post one through the Web API, then press on it.
    response = await zora.services.slack.chat_postMessage(channel=CHANNEL, text="unrelated")
    before = len(zora.standin.ephemeral)
    assert await zora.standin.press_button(CHANNEL, response["ts"], "zora_claim", "whatever") == 200
    assert zora.standin.ephemeral[before:][0]["text"] == "This is not a Zora conversation."


async def test_the_local_inbox_page_can_press_the_card_buttons(zora: Zora) -> None:
    """In `zora dev` a person plays the agent on the stand-in's page, buttons included."""
    _, root_ts, cid = await _conversation(zora)
    inbox = zora.standin.inbox_url
    async with zora.http.get(inbox) as resp:
        page = await resp.text()
    assert 'name="action_id" value="zora_claim"' in page
    form = {"channel": CHANNEL, "ts": root_ts, "action_id": "zora_claim", "value": cid}
    async with zora.http.post(inbox + "/press", data=form, allow_redirects=False) as resp:
        assert resp.status == 303 and "error" not in resp.headers["Location"]
    assert dict(await _row(zora, cid)) == {"status": "assigned", "assignee": AGENT}
