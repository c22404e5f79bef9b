"""Issue 12's "Done when", end to end through a conversation: in the demo shop `zora dev` seeds and imports
(its assistant on as `zora dev` turns it on, mode always_first), a shopper on the widget's socket asks
about order #1001, proves maya@example.com with the code that arrives by email, gets the tracking streamed
(`assistant_delta`) before the stored answer, asks for a person, and an agent takes over in Slack; the next
message gets no assistant turn. Each step is looked for in Temporal: the conversation's workflow, its
`turn:{conversation}:{seq}` children and their activities.

The real embedded servers (PostgreSQL, Redis, the Temporal dev server), the web process and a worker;
stand-ins for Slack, Shopify and the model (the OpenAI stand-in's demo model), a real SMTP server."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from bot.assistant_posts import ACTION_TAKE_OVER
from bot.card import ACTION_CLAIM
from tests.assistant.turns_harness import until
from tests.assistant.world import DemoShop, demo_shop
from tests.harness import AGENT, CHANNEL, Shopper
from tests.helpers import mails_to, wait_for_mail
from zora.models import conversation_workflow_id
from zora.shopify.dev import DEMO_ASSISTANT, DEMO_TRACKING

MAYA = "maya@example.com"
PERSONA = DEMO_ASSISTANT["persona_name"]
# How the thread labels the assistant's answer: streamed (markdown) or posted whole (mrkdwn).
LABEL = re.compile(rf"^(\*\*{PERSONA}\*\* \(AI assistant\)\n|:robot_face: \*{PERSONA}\* \(AI assistant\): )")
# Generous: the machine is shared; every wait is on a condition, none is a measured duration.
PATIENCE = 90.0


@pytest.fixture(scope="module")
async def demo(infra: Any, database_url: str) -> AsyncIterator[DemoShop]:
    async with demo_shop(infra, database_url, assistant_on=True) as shop:
        yield shop


class WidgetShopper(Shopper):
    """A shopper on the widget's socket who also keeps the assistant's streamed events, in arrival order
    with the messages (`timeline`)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.timeline: list[tuple[str, dict[str, Any]]] = []

        @self.sio.on("message", namespace="/widget")
        async def _on_message(data: dict[str, Any]) -> None:
            self.received.append(data)
            self.timeline.append(("message", data))
            self._changed.set()

        @self.sio.on("assistant_delta", namespace="/widget")
        async def _on_delta(data: dict[str, Any]) -> None:
            self.timeline.append(("assistant_delta", data))
            self._changed.set()

        @self.sio.on("assistant_typing", namespace="/widget")
        async def _on_typing(data: dict[str, Any]) -> None:
            self.timeline.append(("assistant_typing", data))
            self._changed.set()

    def shown_writing(self) -> bool:
        """Whether the widget would show the assistant writing: its latest assistant_typing said so."""
        said = [data["typing"] for kind, data in self.timeline if kind == "assistant_typing"]
        return bool(said) and said[-1] is True

    def answer(self, turn: str) -> dict[str, Any] | None:
        found = [m for m in self.received if m.get("client_id") == turn and m.get("assistant")]
        return found[0] if found else None

    def streamed_before_answer(self, turn: str) -> str:
        """The text of the turn's last streamed model call (step and attempt), from the deltas that came
        before its stored answer."""
        pieces: dict[tuple[int, int], str] = {}
        for kind, data in self.timeline:
            if kind == "message" and data.get("client_id") == turn:
                break
            if kind == "assistant_delta" and data["turn"] == turn:
                key = (data["step"], data["attempt"])
                if data["offset"] == len(pieces.get(key, "")):
                    pieces[key] = pieces.get(key, "") + data["text"]
        return pieces[max(pieces)] if pieces else ""


@pytest.mark.parametrize("asking", ["typed", "button", "take_over"])
async def test_order_question_code_tracking_person_and_take_over(demo: DemoShop, asking: str) -> None:
    zora = demo.sz.zora
    session = await zora.session()
    cid = session["conversation_id"]
    shopper = WidgetShopper(session["token"])
    await shopper.connect(zora.base_url)
    zora.clients.append(shopper.sio)
    answered = await tracking_after_the_code(demo, shopper, cid)
    turns = dict.fromkeys(answered, ANSWERED)

    if asking == "take_over":
        # 4-5. The agent presses Take over on the card while the assistant holds the conversation.
        card = await until(lambda: card_with(demo, cid, ACTION_TAKE_OVER), timeout=PATIENCE)
        await press(demo, card, ACTION_TAKE_OVER)
        await until(lambda: assistant_state(demo, cid, "off"), timeout=PATIENCE)
    else:
        await person_asked_for(demo, shopper, cid, asking, turns)
    await until(lambda: assigned_to(demo, cid, AGENT), timeout=PATIENCE)
    if asking == "typed":
        # The widget's button pressed too, once a person has it: no second note.
        assert (await shopper.call("ask_for_person", {}))["ok"]
        await until(lambda: signals_handled(demo, cid, "ask_for_person", 1), timeout=PATIENCE)
    notes = await thread_messages_with(demo, cid, "handed this conversation")
    assert len(notes) == (0 if asking == "take_over" else 1), notes
    # The shopper's next message gets no turn.
    later = await says(shopper, cid, "Thanks! Can you change the address?")
    await until(lambda: signals_handled(demo, cid, "shopper_wrote", len(turns) + 1), timeout=PATIENCE)
    assert await turn_parent(demo, later) is None
    # Typed words are not the button (which says a person will join by itself): the assistant says it.
    told = answered + ([f"handover:{cid}"] if asking == "typed" else [])
    await shopper.wait_for(
        lambda: len([m for m in shopper.received if m.get("assistant")]) >= len(told), timeout=PATIENCE
    )
    assert [m["client_id"] for m in shopper.received if m.get("assistant")] == told
    await in_temporal(demo, cid, turns, handed_over=asking != "take_over")


async def person_asked_for(
    demo: DemoShop, shopper: WidgetShopper, cid: str, asking: str, turns: dict[str, set[str]]
) -> None:
    """4. The shopper asks for a person, in words (the model hands over) or with the widget's "Talk to a
    person" (socket event ask_for_person): the note in the thread, the assistant off. 5. An agent takes
    it in Slack: a reply in the thread, or Claim."""
    if asking == "typed":
        person = await says(shopper, cid, "Can I talk to a person please?")
        turns[person] = HANDED_OVER
    else:
        assert (await shopper.call("ask_for_person", {}))["ok"]
    note = await until(lambda: handover_note(demo, cid), timeout=PATIENCE)
    assert note["text"].startswith("<!here> :robot_face:"), note
    assert ("talk to a person" if asking == "typed" else "the shopper asked for a person") in note["text"]
    # The demo model's reason is a sentence ("The shopper asked for a person."): one full stop.
    assert "person.\n" in note["text"] and ".." not in note["text"], note
    await until(lambda: assistant_state(demo, cid, "off"), timeout=PATIENCE)
    # No answer follows: the widget stops showing the assistant writing.
    await shopper.wait_for(lambda: not shopper.shown_writing(), PATIENCE)
    root = (await thread(demo, cid))[0]
    assert ACTION_TAKE_OVER not in json.dumps(root["blocks"])
    if asking == "typed":
        reply = "Hi, Ada here: I can help."
        assert await demo.sz.zora.standin.agent_reply(CHANNEL, root["ts"], reply, user=AGENT) == 200
        await shopper.wait_for(lambda: any("Ada here" in m["body"] for m in shopper.received), PATIENCE)
    else:
        await press(demo, root, ACTION_CLAIM)


async def card_with(demo: DemoShop, cid: str, action: str) -> dict[str, Any] | None:
    card = (await thread(demo, cid))[0]
    return card if action in json.dumps(card.get("blocks")) else None


async def tracking_after_the_code(demo: DemoShop, shopper: WidgetShopper, cid: str) -> list[str]:
    """Steps 1-3: the order question, the email, the code and the tracking; the turns that answered."""
    # 1. The order question: the assistant needs the order's email first.
    asked = await says(shopper, cid, "Where is my order #1001?")
    first = await answer_of(shopper, asked)
    assert "email" in first["body"] and DEMO_TRACKING not in first["body"]
    assert set(await activities_of(demo, asked)) == ORDER_LOOKUP
    # 2. The email: a 6-digit code arrives by email.
    mailed = len(mails_to(demo.catcher, MAYA))
    emailed = await says(shopper, cid, MAYA)
    await answer_of(shopper, emailed)
    mail = (await asyncio.wait_for(wait_for_mail(demo.catcher, MAYA, mailed + 1), PATIENCE))[-1]
    code = re.search(r"\b(\d{6})\b", mail.text)
    assert code is not None, mail.text
    assert set(await activities_of(demo, emailed)) == CODE_SENT
    # 3. The code: the tracking, streamed to the widget before the stored answer.
    coded = await says(shopper, cid, code.group(1))
    tracked = await answer_of(shopper, coded)
    assert "#1001" in tracked["body"] and DEMO_TRACKING in tracked["body"], tracked
    assert tracked["direction"] == "agent" and tracked["author"]["name"] == PERSONA
    streamed = shopper.streamed_before_answer(coded)
    assert DEMO_TRACKING in streamed and streamed.strip() == tracked["body"].strip()
    assert set(await activities_of(demo, coded)) == TRACKING_TOLD
    # The thread shows the answer once, labelled as the assistant's.
    with_tracking = await until(lambda: thread_messages_with(demo, cid, DEMO_TRACKING), timeout=PATIENCE)
    assert len(with_tracking) == 1 and LABEL.match(with_tracking[0]["text"]), with_tracking
    return [asked, emailed, coded]


# The activities of each turn (its own history), and what the conversation's workflow ran around them.
ORDER_LOOKUP = {"assistant_turn_context", "llm_complete", "assistant_tool_order_status"}
CODE_SENT = {"assistant_turn_context", "llm_complete", "assistant_tool_send_verification_code"}
TRACKING_TOLD = {
    "assistant_turn_context",
    "llm_complete",
    "assistant_tool_check_verification_code",
    "assistant_tool_order_status",
}
ANSWERED = {"assistant_turn_context", "llm_complete"}  # at least
HANDED_OVER = {"assistant_turn_context", "llm_complete"}


async def in_temporal(demo: DemoShop, cid: str, expected: dict[str, set[str]], *, handed_over: bool) -> None:
    """Every step is a workflow or an activity: the conversation's workflow, the turn children and the
    activities each turn ran (the ones the Temporal UI lists in their histories)."""
    zora = demo.sz.zora
    conversation = conversation_workflow_id(zora.shop, uuid.UUID(cid))
    described = await zora.services.temporal.get_workflow_handle(conversation).describe()
    assert described.workflow_type == "ConversationWorkflow"
    for turn, names in expected.items():
        assert await turn_parent(demo, turn) == conversation, turn
        assert names <= set(await activities_of(demo, turn)), turn
    ran = [name for run in await runs_of(demo, conversation) for name in await activities_of(demo, conversation, run)]
    answers = sum(names is ANSWERED for names in expected.values())
    around = {
        "assistant_gate": len(expected),
        "assistant_set_state": 1,
        "assistant_record_turn": len(expected),
        "assistant_deliver": answers,
        "assistant_hand_over": int(handed_over),
    }
    assert {name: ran.count(name) for name in around} == around, ran


async def press(demo: DemoShop, message: dict[str, Any], action: str) -> None:
    value = next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action
    )
    assert await demo.sz.zora.standin.press_button(CHANNEL, message["ts"], action, value, user=AGENT) == 200


async def says(shopper: WidgetShopper, cid: str, text: str) -> str:
    """The shopper writes `text`; the id of the turn that answers it (`turn:{conversation}:{seq}`)."""
    ack = await shopper.send(text)
    assert ack["ok"], ack
    return f"turn:{cid}:{ack['seq']}"


async def answer_of(shopper: WidgetShopper, turn: str) -> dict[str, Any]:
    await shopper.wait_for(lambda: shopper.answer(turn) is not None, PATIENCE)
    found = shopper.answer(turn)
    assert found is not None
    return found


async def thread(demo: DemoShop, cid: str) -> list[dict[str, Any]]:
    zora = demo.sz.zora
    rows = await until(
        lambda: zora.fetch("SELECT thread_ts FROM slack_threads WHERE conversation_id = $1::uuid", cid),
        timeout=PATIENCE,
    )
    return zora.standin.thread(CHANNEL, str(rows[0]["thread_ts"]))


async def thread_messages_with(demo: DemoShop, cid: str, words: str) -> list[dict[str, Any]]:
    return [m for m in (await thread(demo, cid))[1:] if words in m.get("text", "")]


async def handover_note(demo: DemoShop, cid: str) -> dict[str, Any] | None:
    found = await thread_messages_with(demo, cid, "handed this conversation")
    return found[0] if found else None


async def assistant_state(demo: DemoShop, cid: str, state: str) -> bool:
    rows = await demo.sz.fetch("SELECT assistant FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and rows[0]["assistant"] == state


async def assigned_to(demo: DemoShop, cid: str, agent: str) -> bool:
    rows = await demo.sz.fetch("SELECT assignee FROM conversations WHERE id = $1::uuid", cid)
    return bool(rows) and rows[0]["assignee"] == agent


async def turn_parent(demo: DemoShop, turn_id: str) -> str | None:
    """The workflow id of the turn's parent, None when no such turn was ever started."""
    handle = demo.sz.zora.services.temporal.get_workflow_handle(turn_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    assert described.status != WorkflowExecutionStatus.FAILED, turn_id
    return described.parent_id


async def runs_of(demo: DemoShop, workflow_id: str) -> list[str]:
    """The run ids of a workflow (a conversation continues as new), oldest first."""
    temporal = demo.sz.zora.services.temporal
    runs = [e async for e in temporal.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return [e.run_id for e in sorted(runs, key=lambda e: e.start_time)]


async def activities_of(demo: DemoShop, workflow_id: str, run_id: str | None = None) -> list[str]:
    """The activity types a workflow's run scheduled, local ones included (recorded as markers)."""
    handle = demo.sz.zora.services.temporal.get_workflow_handle(workflow_id, run_id=run_id)
    names: list[str] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                names.append(str(json.loads(marker.details["data"].payloads[0].data)["activity_type"]))
    return names


async def signals_handled(demo: DemoShop, cid: str, name: str, n: int) -> bool:
    """The conversation's workflow (every run of it: it continues as new) finished a task after its `n`th
    `name` signal."""
    zora = demo.sz.zora
    workflow_id = conversation_workflow_id(zora.shop, uuid.UUID(cid))
    handled = 0
    for run_id in await runs_of(demo, workflow_id):
        seen = done = 0
        handle = zora.services.temporal.get_workflow_handle(workflow_id, run_id=run_id)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                seen += event.workflow_execution_signaled_event_attributes.signal_name == name
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                done = seen
        handled += done
    return handled >= n
