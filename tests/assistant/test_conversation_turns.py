"""The assistant in conversations (issue 12 §2 §6), end to end: the widget over socket.io, the web process,
ConversationWorkflow and its AssistantTurnWorkflow children on the Temporal dev server, PostgreSQL, Redis,
the Slack stand-in and the OpenAI stand-in's demo model."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from bot.assistant_posts import ACTION_DRAFT_DISCARD, ACTION_DRAFT_SEND, ACTION_TAKE_OVER
from tests.assistant.turns_harness import (
    POLICIES,
    AiZora,
    ai_messages,
    assistant_on,
    buttons,
    card,
    children,
    handled_signals,
    model_calls,
    replies,
    running_ai_zora,
    turn_status,
    turns,
    until,
)
from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import set_shop_settings
from zora.assistant_texts import PERSON_JOINS
from zora.models import SettingsChanged, conversation_workflow_id


@pytest.fixture(scope="module")
async def ai(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    async with running_ai_zora(infra, database_url) as running:
        yield running


async def start(zora: Zora, text: str) -> tuple[Shopper, str]:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.send(text))["ok"]
    return shopper, session["conversation_id"]


async def test_a_question_is_answered_in_the_widget_and_the_thread_once(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    # A workspace without Slack's message streaming: the answer is posted when it is complete (the
    # streamed path is the next test's).
    zora.standin.refuse_streams()
    try:
        await _answered_once_through_a_retried_post(ai, zora)
    finally:
        zora.standin.refuse_streams(None)


async def _answered_once_through_a_retried_post(ai: AiZora, zora: Zora) -> None:
    # The model waits while the shopper's message reaches Slack; then Slack refuses the answer's post
    # once, so the delivery activity runs twice.
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: len(ai.model.requests) > asked)
    await until(lambda: replies(zora, cid))
    zora.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    ai.model.release()

    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    await until(lambda: any(":robot_face:" in m.get("text", "") for m in zora.standin.thread(CHANNEL, m_root(zora))))
    answer = ai_messages(shopper)[0]
    assert answer["client_id"] == f"turn:{cid}:1" and answer["author"]["name"] == "Ada"
    # Pushed by both attempts, stored by one.
    await until(lambda: len(ai_messages(shopper)) >= 2)

    async def stored() -> list[Any]:
        return await zora.fetch(
            "SELECT seq, author_id, direction, slack_ts FROM messages"
            " WHERE conversation_id = $1::uuid AND author_id = 'ai'",
            cid,
        )

    # The post's ts is written once chat.postMessage has answered, a moment after Slack shows the post.
    await until(lambda: _posted(stored()))
    rows = await stored()
    assert len(rows) == 1 and rows[0]["direction"] == "agent" and rows[0]["slack_ts"] is not None
    posted = [m for m in await replies(zora, cid) if ":robot_face:" in m.get("text", "")]
    assert len(posted) == 1 and "*Ada* (AI assistant)" in posted[0]["text"] and POLICIES in posted[0]["text"]
    # The audit: the turn, its tokens and its tool call; the tool's result never reached the shopper.
    [turn] = await turns(zora, cid)
    assert turn["outcome"] == "answered" and turn["prompt_tokens"] > 0
    tools = await zora.fetch("SELECT name, content FROM assistant_tool_calls WHERE turn_id = $1", turn["id"])
    assert [t["name"] for t in tools] == ["store_policies"]
    assert all(tools[0]["content"] not in json.dumps(m) for m in shopper.received)
    # Slack reporting the post as changed (streaming, or Zora's own edits) does not rewrite the answer.
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "hidden": True,
        "ts": "1900000100.000100",
        "message": {
            "type": "message",
            "user": AGENT,
            "text": "rewritten",
            "ts": posted[0]["ts"],
            "thread_ts": posted[0]["thread_ts"],
        },
    }
    assert await zora.standin.deliver_event(edited) == 200
    [row] = await zora.fetch("SELECT body, edited_at FROM messages WHERE conversation_id = $1::uuid AND seq = 2", cid)
    assert POLICIES in row["body"] and row["edited_at"] is None
    # Its model calls stream to this conversation (llm_complete pushes the deltas to the widget).
    calls = await model_calls(zora, f"turn:{cid}:1")
    assert calls and all(c["stream_to"] == {"shop_id": zora.shop_id, "conversation_id": cid} for c in calls)
    offered = [t["name"] for t in calls[0]["tools"]]
    assert "store_policies" in offered and offered[-1] == "hand_over"
    # The card says the assistant is answering, with Take over (updated beside the turn).
    await until(lambda: card_has_take_over(zora, cid))
    assert await card_says(zora, cid, "Assistant answering")


async def test_an_answer_streamed_into_slack_is_its_post(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    # Streamed into the thread (chat.startStream ... stopStream) and recorded as the answer's post:
    # not posted a second time when the turn delivers it.
    await until(lambda: [s for s in zora.standin.streams if POLICIES in s["message"]["text"]])
    [streamed] = [s for s in zora.standin.streams if POLICIES in s["message"]["text"]]
    assert "**Ada** (AI assistant)" in streamed["message"]["text"]
    [row] = await zora.fetch("SELECT slack_ts FROM messages WHERE conversation_id = $1::uuid AND author_id = 'ai'", cid)
    assert row["slack_ts"] == streamed["message"]["ts"]
    in_thread = [m for m in await replies(zora, cid) if POLICIES in m.get("text", "")]
    assert [m["ts"] for m in in_thread] == [streamed["message"]["ts"]]
    # Counted once in the shop's assistant figures (zora/store/assistant_metrics.py range_totals).
    outcomes = await zora.fetch(
        "SELECT outcome, prompt_tokens FROM assistant_turn_outcomes WHERE turn_id = $1", f"turn:{cid}:1"
    )
    assert [(r["outcome"], r["prompt_tokens"] > 0) for r in outcomes] == [("answered", True)]


async def _posted(rows: Any) -> bool:
    return any(r["slack_ts"] is not None for r in await rows)


def m_root(zora: Zora) -> str:
    return str(zora.standin.posted[-1].get("thread_ts") or zora.standin.posted[-1]["ts"])


async def test_a_newer_message_cancels_the_running_turn(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    shopper, cid = await start(zora, "first words")
    await until(lambda: turn_status(zora, cid, 1))
    # The turn's model call hangs (not a later turn's).
    await until(lambda: len(ai.model.requests) > asked)
    assert (await shopper.send("What is your return policy?"))["ok"]
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert await turn_status(zora, cid, 1) == WorkflowExecutionStatus.CANCELED
    assert [(t["seq"], t["outcome"]) for t in await turns(zora, cid)] == [(1, "cancelled"), (2, "answered")]
    assert [m["client_id"] for m in ai_messages(shopper)] == [f"turn:{cid}:2"]
    ai.model.release()


async def test_take_over_stops_the_assistant_for_the_conversation(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    shopper, cid = await start(zora, "hello there")
    await until(lambda: turn_status(zora, cid, 1))
    # The turn's model call hangs (not a later turn's).
    await until(lambda: len(ai.model.requests) > asked)
    root = await card(zora, cid)
    await until(lambda: card_has_take_over(zora, cid))
    assert await zora.standin.press_button(CHANNEL, root["ts"], ACTION_TAKE_OVER, cid, user=AGENT) == 200
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    [row] = await zora.fetch("SELECT status, assignee, assistant FROM conversations WHERE id = $1::uuid", cid)
    assert (row["status"], row["assignee"], row["assistant"]) == ("assigned", AGENT, "off")
    # The card is redrawn after the note is posted (the same activity): wait for it.
    await until(lambda: take_over_gone(zora, cid))
    # The shopper writes again: nobody but the agent answers.
    assert (await shopper.send("are you there?"))["ok"]
    await until(lambda: handled(zora, cid, 2))
    assert await children(zora, cid) == [f"turn:{cid}:1"]
    ai.model.release()
    assert ai_messages(shopper) == []


async def take_over_gone(zora: Zora, cid: str) -> bool:
    return not await card_has_take_over(zora, cid)


async def card_has_take_over(zora: Zora, cid: str) -> bool:
    return ACTION_TAKE_OVER in buttons(await card(zora, cid))


async def card_says(zora: Zora, cid: str, words: str) -> bool:
    return words in json.dumps((await card(zora, cid))["blocks"])


async def turn_status_is(zora: Zora, cid: str, seq: int, status: WorkflowExecutionStatus) -> bool:
    return await turn_status(zora, cid, seq) == status


async def handled(zora: Zora, cid: str, n: int) -> bool:
    return await handled_signals(zora, cid, "shopper_wrote") >= n


async def test_an_agent_reply_in_the_thread_stops_the_assistant(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    _shopper, cid = await start(zora, "hello again")
    await until(lambda: turn_status(zora, cid, 1))
    # The turn's model call hangs (not a later turn's).
    await until(lambda: len(ai.model.requests) > asked)
    root = await card(zora, cid)
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "I am here, let me help", user=AGENT) == 200
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    [row] = await zora.fetch("SELECT assignee, assistant FROM conversations WHERE id = $1::uuid", cid)
    assert (row["assignee"], row["assistant"]) == (AGENT, "off")
    ai.model.release()


async def test_a_failed_turn_hands_over_with_a_note(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    ai.model.fail_next("status", status=401)
    shopper, cid = await start(zora, "hello, anyone?")
    note = await until(lambda: note_in(zora, cid))
    assert note["text"].startswith("<!here> :robot_face: The assistant handed this conversation to you")
    assert "401" in note["text"] and "hello, anyone?" in note["text"]
    [turn] = await turns(zora, cid)
    assert turn["outcome"] == "failed"
    await until(lambda: assistant_is(zora, cid, "off"))
    # The card is redrawn after the note is posted (the same activity): wait for it.
    await until(lambda: take_over_gone(zora, cid))
    # No answer; the shopper is told a person will join, as the widget's button would.
    await until(lambda: ai_messages(shopper))
    assert [m["body"] for m in ai_messages(shopper)] == [PERSON_JOINS["en"]]


async def note_in(zora: Zora, cid: str) -> dict[str, Any] | None:
    found = [m for m in await replies(zora, cid) if "handed this conversation" in m.get("text", "")]
    return found[0] if found else None


async def assistant_is(zora: Zora, cid: str, state: str) -> bool:
    rows = await zora.fetch("SELECT assistant FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and rows[0]["assistant"] == state


async def test_the_model_asking_for_a_person_hands_over(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    session = await zora.session()
    shopper, cid = await zora.shopper(session["token"]), session["conversation_id"]
    first = {"client_id": uuid.uuid4().hex, "body": "Can I talk to a person please?", "locale": "fr-CA"}
    assert (await shopper.call("message", first))["ok"]
    note = await until(lambda: note_in(zora, cid))
    [turn] = await turns(zora, cid)
    assert turn["outcome"] == "handed_over"
    assert turn["reason"] in note["text"]
    # Told in the widget what the "Talk to a person" button says once pressed, in the conversation's
    # language, by the assistant; stored once (a message the shopper gets again on resume).
    await until(lambda: ai_messages(shopper))
    [notice] = ai_messages(shopper)
    assert notice["body"] == PERSON_JOINS["fr"] and notice["client_id"] == f"handover:{cid}"
    assert notice["author"]["name"] == "Ada" and notice["direction"] == "agent"
    rows = await zora.fetch(
        "SELECT body, slack_ts FROM messages WHERE conversation_id = $1::uuid AND author_id = 'ai'", cid
    )
    assert [(r["body"], r["slack_ts"]) for r in rows] == [(PERSON_JOINS["fr"], None)]


async def test_a_spent_daily_budget_hands_over(ai: AiZora) -> None:
    zora = ai.zora
    [today] = await zora.fetch("SELECT count(*) AS n FROM assistant_turns WHERE shop_id = $1", zora.shop_id)
    await assistant_on(zora, daily_turns=today["n"] + 1)
    shopper, cid = await start(zora, "hello")
    await until(lambda: ai_messages(shopper))
    assert (await shopper.send("and what else?"))["ok"]
    note = await until(lambda: note_in(zora, cid))
    assert "daily budget" in note["text"]
    assert [t["outcome"] for t in await turns(zora, cid)] == ["answered", "handed_over"]
    # The model was not asked a second time.
    assert [m["client_id"] for m in ai_messages(shopper) if m["client_id"].startswith("turn:")] == [f"turn:{cid}:1"]


async def test_asking_for_a_person_hands_over(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    shopper, cid = await start(zora, "hello there you")
    await until(lambda: turn_status(zora, cid, 1))
    # The turn's model call hangs (not a later turn's).
    await until(lambda: len(ai.model.requests) > asked)
    assert (await shopper.call("ask_for_person", {"reason": "I prefer a human"}))["ok"]
    note = await until(lambda: note_in(zora, cid))
    assert "the shopper asked for a person: I prefer a human" in note["text"]
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    assert await assistant_is(zora, cid, "off")
    ai.model.release()
    # The button says a person will join by itself: no message says it again.
    await until(lambda: take_over_gone(zora, cid))
    assert ai_messages(shopper) == []
    bad = await shopper.call("ask_for_person", {"reason": 5})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_payload"


async def test_a_person_asked_for_before_the_first_message_gets_it(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora, offer_person_first=True)
    session = await zora.session()
    assert session["widget"]["assistant"]["offer_person_first"] is True
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("ask_for_person", {}))["ok"]
    # Slack holds the first message's post back a moment: the handover (signalled beside the post)
    # must wait for the thread instead of dropping its note.
    zora.standin.rate_limit("chat.postMessage", times=1, retry_after=2)
    assert (await shopper.send("I need help with my order"))["ok"]
    cid = session["conversation_id"]
    await until(lambda: note_in(zora, cid), timeout=90)
    assert await children(zora, cid) == []
    assert ai_messages(shopper) == []


async def test_a_shop_without_the_assistant_sends_no_signal(ai: AiZora) -> None:
    zora = ai.zora
    await set_shop_settings(zora)
    _shopper, cid = await start(zora, "plain old question")
    await until(lambda: replies(zora, cid))
    await until(lambda: not zora.widget()._signals)
    await until(lambda: zora.workflow_run_id(cid))
    assert await handled_signals(zora, cid, "shopper_wrote") == 0
    assert await zora.fetch("SELECT 1 FROM assistant_turns WHERE conversation_id = $1::uuid", cid) == []
    # The card is redrawn after the note is posted (the same activity): wait for it.
    await until(lambda: take_over_gone(zora, cid))


STRANGER = "U0STRANGER"


async def drafts(zora: Zora, cid: str) -> list[dict[str, Any]]:
    return [m for m in await replies(zora, cid) if ACTION_DRAFT_SEND in buttons(m)]


async def press(zora: Zora, message: dict[str, Any], action: str, user: str = AGENT) -> str | None:
    """Presses a button of a message in the thread; what Zora told the presser, if anything."""
    told = len(zora.standin.ephemeral)
    value = next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action
    )
    assert await zora.standin.press_button(CHANNEL, message["ts"], action, value, user=user) == 200
    said = zora.standin.ephemeral[told:]
    return str(said[0]["text"]) if said else None


async def test_draft_only_answers_reach_the_shopper_only_when_an_agent_sends_them(ai: AiZora) -> None:
    zora = ai.zora
    zora.standin.add_user(STRANGER, "eve", "Eve Stranger")
    zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT])
    await assistant_on(zora, mode="draft_only")
    shopper, cid = await start(zora, "What is your return policy?")
    [draft] = await until(lambda: drafts(zora, cid))
    assert POLICIES in draft["text"] or POLICIES in json.dumps(draft["blocks"])
    await until(lambda: card_says(zora, cid, "Assistant drafting"))
    # A draft is not streamed to the shopper.
    assert all(c["stream_to"] is None for c in await model_calls(zora, f"turn:{cid}:1"))
    assert ai_messages(shopper) == []
    # Someone who is not the shop's agent changes nothing.
    assert await press(zora, draft, ACTION_DRAFT_SEND, user=STRANGER) is not None
    assert await press(zora, draft, ACTION_DRAFT_SEND) is None
    await until(lambda: ai_messages(shopper))
    [sent] = ai_messages(shopper)
    assert POLICIES in sent["body"] and sent["client_id"] == f"turn:{cid}:1"
    answer = [m for m in await replies(zora, cid) if m.get("text", "").startswith(":robot_face:")]
    assert len(answer) == 1 and f"sent by <@{AGENT}>" in answer[0]["text"]
    # The draft lost its buttons; a second click (an old copy of it) is refused.
    assert await drafts(zora, cid) == []
    assert await press(zora, draft, ACTION_DRAFT_SEND) == "This draft is no longer waiting for a decision."

    # A newer draft replaces the waiting one: the old one is stale, Discard drops the new one.
    first = (await shopper.send("hello"))["seq"]
    [older] = await until(lambda: drafts_for(zora, cid, first))
    second = (await shopper.send("What about shipping cost and returns?"))["seq"]
    [newest] = await until(lambda: drafts_for(zora, cid, second))
    assert await press(zora, older, ACTION_DRAFT_SEND) == "This draft is no longer waiting for a decision."
    assert await press(zora, newest, ACTION_DRAFT_DISCARD) is None
    await until(lambda: discarded(zora, cid))
    assert len(ai_messages(shopper)) == 1
    rows = await zora.fetch(
        "SELECT count(*) AS n FROM messages WHERE conversation_id = $1::uuid AND author_id = 'ai'", cid
    )
    assert rows[0]["n"] == 1


async def drafts_for(zora: Zora, cid: str, seq: int) -> list[dict[str, Any]]:
    return [m for m in await drafts(zora, cid) if f"turn:{cid}:{seq}" in json.dumps(m["blocks"])]


async def discarded(zora: Zora, cid: str) -> bool:
    return any("discarded by" in m.get("text", "") for m in await replies(zora, cid))


async def test_turning_the_assistant_off_hands_over_what_it_holds(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    _shopper, cid = await start(zora, "hello from afar")
    await until(lambda: turn_status(zora, cid, 1))
    # The turn's model call hangs (not a later turn's).
    await until(lambda: len(ai.model.requests) > asked)
    await set_shop_settings(zora)
    # What the settings page sends to open conversations when the merchant saves (zora/admin.py).
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    await handle.signal("settings_changed", SettingsChanged(auto_assign=False, transcript_on_resolve=False))
    note = await until(lambda: note_in(zora, cid))
    assert "turned its assistant off" in note["text"]
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    ai.model.release()


def open_all_day_now() -> dict[str, Any]:
    """Business hours that include this moment: every day 00:00-23:59, in a zone where it is not 23:59."""
    late = datetime.now(UTC).strftime("%H:%M") == "23:59"
    return {
        "timezone": "Etc/GMT-1" if late else "UTC",
        "business_hours": {day: ("00:00", "23:59") for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }


async def test_outside_hours_mode_leaves_open_hours_to_people(ai: AiZora) -> None:
    zora = ai.zora
    await set_shop_settings(
        zora, assistant={"enabled": True, "mode": "outside_hours", "policies": POLICIES}, **open_all_day_now()
    )
    _shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: handled(zora, cid, 1))
    await until(lambda: gate_ran(zora, cid))
    assert await children(zora, cid) == []
    assert not await assistant_is(zora, cid, "answering")


async def gate_ran(zora: Zora, cid: str) -> bool:
    return "assistant_gate" in await zora.activities_run(cid)


async def test_no_agent_available_mode_answers_only_when_no_agent_is(ai: AiZora) -> None:
    zora = ai.zora
    zora.standin.set_presence(AGENT, "active")
    mode = {"enabled": True, "mode": "no_agent_available", "policies": POLICIES}
    team = {"auto_assign": True, "assign_agents": [AGENT], "max_open_per_agent": 1000, "reminder_minutes": 0}
    # The team is there and assigns by hand: people answer, the assistant stays out.
    await set_shop_settings(zora, assistant=mode, reminder_minutes=0)
    _shopper, by_hand = await start(zora, "What is your return policy?")
    await until(lambda: gate_ran(zora, by_hand))
    assert await children(zora, by_hand) == []
    # An agent can take it: the agent gets it, the assistant stays out.
    await set_shop_settings(zora, assistant=mode, **team)
    _shopper, taken = await start(zora, "What is your return policy?")
    await until(lambda: assigned(zora, taken))
    await until(lambda: handled(zora, taken, 1))
    await until(lambda: gate_ran(zora, taken))
    assert await children(zora, taken) == []
    # The shop is marked away: the assistant answers, and nobody is assigned meanwhile.
    await set_shop_settings(zora, available=False, assistant=mode, **team)
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert await children(zora, cid) == [f"turn:{cid}:1"]
    assert not await assigned(zora, cid)


async def assigned(zora: Zora, cid: str) -> bool:
    rows = await zora.fetch("SELECT assignee FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and rows[0]["assignee"] is not None
