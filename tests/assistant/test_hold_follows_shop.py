"""The assistant's hold follows the shop (issue 12 §2): a change of the shop's mode to one that would not
answer this conversation now, or business hours starting in a mode that answers outside them, hands the
conversation over like other handovers (a note, the shopper told, the assistant off); resolving it ends
the hold without a handover, and a shopper who writes again is weighed afresh. Running Zora with the
widget, Slack and model stand-ins, the Temporal dev server and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowExecutionStatus

from bot.card import ACTION_RESOLVE
from tests.assistant.test_conversation_turns import (
    assistant_is,
    card_has_take_over,
    note_in,
    open_all_day_now,
    start,
    turn_status_is,
)
from tests.assistant.turns_harness import (
    POLICIES,
    AiZora,
    ai_messages,
    assistant_on,
    card,
    running_ai_zora,
    turn_status,
    turns,
    until,
)
from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import set_shop_settings
from zora.assistant_texts import PERSON_JOINS
from zora.models import PostPendingToSlack, SettingsChanged, conversation_workflow_id


@pytest.fixture(scope="module")
async def ai(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    async with running_ai_zora(infra, database_url) as running:
        yield running


async def settings_saved(zora: Zora, cid: str) -> None:
    """What the settings page sends to open conversations when the merchant saves (zora/admin.py)."""
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    await handle.signal("settings_changed", SettingsChanged(auto_assign=False, transcript_on_resolve=False))


async def hanging_turn(ai: AiZora, text: str) -> tuple[Any, str]:
    """A conversation the assistant holds, its first turn's model call hanging."""
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    shopper, cid = await start(ai.zora, text)
    await until(lambda: turn_status(ai.zora, cid, 1))
    await until(lambda: len(ai.model.requests) > asked)
    return shopper, cid


async def test_a_mode_that_would_not_answer_now_hands_over(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    shopper, cid = await hanging_turn(ai, "hello, mode change")
    # Still on, but now only outside business hours, and the shop is open.
    await set_shop_settings(
        zora, assistant={"enabled": True, "mode": "outside_hours", "policies": POLICIES}, **open_all_day_now()
    )
    await settings_saved(zora, cid)
    note = await until(lambda: note_in(zora, cid))
    assert "answers only outside business hours" in note["text"]
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    assert await assistant_is(zora, cid, "off")
    await until(lambda: ai_messages(shopper))
    assert [m["body"] for m in ai_messages(shopper)] == [PERSON_JOINS["en"]]
    ai.model.release()


async def test_a_save_that_keeps_the_mode_keeps_the_hold(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    _shopper, cid = await hanging_turn(ai, "hello, same mode")
    await assistant_on(zora, instructions="Be brief.")
    await settings_saved(zora, cid)
    await until(lambda: gates_run(zora, cid, 2))
    assert await assistant_is(zora, cid, "answering")
    assert await turn_status(zora, cid, 1) == WorkflowExecutionStatus.RUNNING
    ai.model.release()


async def gates_run(zora: Zora, cid: str, n: int) -> bool:
    return (await zora.activities_run(cid)).count("assistant_gate") >= n


def opening_soon(at_least: timedelta = timedelta(seconds=20)) -> dict[str, Any]:
    """Business hours that start at the first whole minute at least `at_least` from now (today only, in a
    zone where that is before 23:59): the shop is closed now, and the conversation has time to start
    before it opens (under a loaded machine the assistant's first answer takes seconds)."""
    now = datetime.now(UTC)
    zone = "UTC" if 1 <= now.hour <= 21 else "Etc/GMT+5"
    earliest = now.astimezone(ZoneInfo(zone)) + at_least
    local = earliest.replace(second=0, microsecond=0) + (timedelta(minutes=1) if earliest.second else timedelta(0))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    return {"timezone": zone, "business_hours": {day: (local.strftime("%H:%M"), "23:59")}}


def closed_all_day() -> dict[str, Any]:
    """Business hours that never include today (the shop is closed now and all day)."""
    today = datetime.now(UTC).weekday()
    other = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today + 3) % 7]
    return {"timezone": "UTC", "business_hours": {other: ("09:00", "17:00")}}


# Waits for a real opening, 20-80 s away (business hours are whole minutes): the workflow's own timer
# wakes it, nothing signals it.
@pytest.mark.timeout(300)
async def test_business_hours_starting_hand_over_in_outside_hours_mode(ai: AiZora) -> None:
    zora = ai.zora
    await set_shop_settings(
        zora, assistant={"enabled": True, "mode": "outside_hours", "policies": POLICIES}, **opening_soon()
    )
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert await assistant_is(zora, cid, "answering")
    assert await note_in(zora, cid) is None, "the shop opened before the assistant answered"
    note = await until(lambda: note_in(zora, cid), timeout=150)
    assert "answers only outside business hours" in note["text"]
    await until(lambda: assistant_is(zora, cid, "off"))
    await until(lambda: len(ai_messages(shopper)) == 2)
    assert ai_messages(shopper)[-1]["body"] == PERSON_JOINS["en"]


async def test_a_hold_carried_over_by_continue_as_new_is_weighed_again(ai: AiZora) -> None:
    """The continued run weighs its hold at its start (the previous run's wait for business hours does not
    come along): hours that changed with no signal (an opening that fell between the runs) hand over then."""
    zora = ai.zora
    assistant = {"enabled": True, "mode": "outside_hours", "policies": POLICIES}
    await set_shop_settings(zora, assistant=assistant, **closed_all_day())
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    # Open now, stored without the settings page's signal: only a new weighing can see it.
    await set_shop_settings(zora, assistant=assistant, **open_all_day_now())
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    first_run = (await handle.describe()).run_id
    assert await note_in(zora, cid) is None
    # Durable deliveries grow the history (the dev server suggests continue-as-new after 50 events in
    # tests/conftest.py): the run continues as new while the assistant holds the conversation.
    for i in range(30):
        await handle.signal("deliver", PostPendingToSlack(reason=f"test {i}"))
    await until(lambda: run_changed(handle, first_run), timeout=60)
    note = await until(lambda: note_in(zora, cid))
    assert "answers only outside business hours" in note["text"]
    await until(lambda: assistant_is(zora, cid, "off"))


async def run_changed(handle: Any, first_run: str | None) -> bool:
    return (await handle.describe()).run_id != first_run


async def test_resolving_ends_the_hold_without_a_handover(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    shopper, cid = await hanging_turn(ai, "hello, resolve me")
    await until(lambda: card_has_take_over(zora, cid))
    root = await card(zora, cid)
    assert await zora.standin.press_button(CHANNEL, root["ts"], ACTION_RESOLVE, cid, user=AGENT) == 200
    await until(lambda: turn_status_is(zora, cid, 1, WorkflowExecutionStatus.CANCELED))
    await until(lambda: hold_cleared(zora, cid))
    ai.model.release()
    assert await note_in(zora, cid) is None
    # The shopper writes again: the conversation reopens and the assistant answers as for a new one.
    assert (await shopper.send("What is your return policy?"))["ok"]
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert [(t["seq"], t["outcome"]) for t in await turns(zora, cid)] == [(1, "cancelled"), (2, "answered")]
    assert await note_in(zora, cid) is None
    # Held again: the card offers Take over again.
    await until(lambda: card_has_take_over(zora, cid))


async def hold_cleared(zora: Zora, cid: str) -> bool:
    rows = await zora.fetch("SELECT status, assistant FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and (rows[0]["status"], rows[0]["assistant"]) == ("resolved", None)
