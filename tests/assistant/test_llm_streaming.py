"""llm_complete streaming an answer while it is written (issue 12 §5): deltas to a real socket.io client
in the conversation's room (through real Redis), and into the Slack thread with Slack's streaming
methods (the stand-in), retried attempts starting over, and workspaces that do not stream."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities
from tests.harness import Shopper, Zora
from tests.helpers import open_conversation, set_shop_settings
from widget.emitter import ShopperEmitter
from zora.assistant import ChatMessage, LlmRequest, LlmResult, StreamTarget, ToolSpec
from zora.slack_api import SlackWorkspaces
from zora.slack_text import unescape
from zora.standins.openai import OpenAIStandIn

TOOL = ToolSpec(name="order_status", description="An order's status")
# Long enough for several deltas (they go out every ~120 characters or 50 ms), with characters Slack
# must get escaped.
ANSWER = " ".join(f"word{i} <&>" for i in range(90))


def sse(content: str, *, piece: int = 5, tool: bool = False) -> bytes:
    """A provider's stream: `content` in pieces, then (with `tool`) a tool call, then the finish."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "zora-demo",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": content[i : i + piece]}) for i in range(0, len(content), piece)]
    if tool:
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "order_status", "arguments": "{}"}}
        out.append(chunk({"tool_calls": [call]}))
    out.append(chunk({}, "tool_calls" if tool else "stop"))
    return b"".join(out) + b"data: [DONE]\n\n"


@pytest.fixture
async def standin() -> AsyncIterator[OpenAIStandIn]:
    server = OpenAIStandIn()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def llm(zora: Zora, standin: OpenAIStandIn) -> AsyncIterator[LlmActivities]:
    settings = zora.settings.model_copy(update={"openai_base_url": standin.base_url, "openai_model": "zora-demo"})
    emitter = ShopperEmitter.from_settings(settings)
    workspaces = SlackWorkspaces(zora.services.slack, zora.services.pool, settings)
    activities = LlmActivities(settings, emitter=emitter, pool=zora.services.pool, workspaces=workspaces)
    try:
        yield activities
    finally:
        await activities.close()
        await emitter.close()
        zora.standin.refuse_streams(None)


class Watcher:
    """A shopper's socket in the conversation's room, recording the assistant's events."""

    def __init__(self, shopper: Shopper) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()
        for name in ("assistant_delta", "assistant_typing"):
            shopper.sio.on(name, self._recorder(name), namespace="/widget")

    def _recorder(self, name: str) -> Any:
        async def record(data: dict[str, Any]) -> None:
            self.events.append((name, data))
            self.changed.set()

        return record

    def deltas(self, attempt: int | None = None) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == "assistant_delta" and attempt in (None, d["attempt"])]

    def typing(self) -> list[bool]:
        return [d["typing"] for n, d in self.events if n == "assistant_typing"]

    async def until(self, predicate: Any) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), 30)


async def watching(zora: Zora) -> tuple[Watcher, StreamTarget]:
    opened = await open_conversation(zora, "where is my parcel?")
    watcher = Watcher(opened.shopper)
    assert (await opened.shopper.call("resume", {"since_seq": 0}))["ok"]  # joins the room
    return watcher, StreamTarget(shop_id=zora.shop_id, conversation_id=opened.conversation_id)


def request(target: StreamTarget, text: str = "where is my parcel?") -> LlmRequest:
    return LlmRequest(
        turn_id=f"turn:{target.conversation_id}:1",
        messages=[ChatMessage(role="user", content=text)],
        tools=[TOOL],
        stream_to=target,
    )


class Beats(list[tuple[Any, ...]]):
    """An activity's heartbeats' details, with an event set at each."""

    def __init__(self) -> None:
        super().__init__()
        self.beat = asyncio.Event()

    def __call__(self, *details: Any) -> None:
        self.append(details)
        self.beat.set()


def environment(attempt: int = 1, details: tuple[Any, ...] = ()) -> tuple[ActivityEnvironment, Beats]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=details)
    beats = Beats()
    env.on_heartbeat = beats
    return env, beats


async def until_beat(beats: Beats, predicate: Any) -> None:
    async def loop() -> None:
        while not predicate():
            beats.beat.clear()
            await beats.beat.wait()

    await asyncio.wait_for(loop(), 30)


def joined(deltas: list[dict[str, Any]]) -> str:
    """The text the widget shows: each delta must start where the last one ended."""
    text = ""
    for delta in deltas:
        assert delta["offset"] == len(text), (delta["offset"], len(text))
        text += delta["text"]
    return text


def stream_of(zora: Zora, ts: str) -> dict[str, Any]:
    [found] = [s["message"] for s in zora.standin.streams if s["message"]["ts"] == ts]
    return found


async def test_deltas_reach_the_room_in_order_and_slack_gets_the_labelled_answer(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    watcher, target = await watching(zora)
    await set_shop_settings(zora, assistant={"persona_name": "Robin"})
    standin.replay_next(sse(ANSWER))
    env, _ = environment()
    result: LlmResult = await env.run(llm.complete, request(target))
    assert result.content == ANSWER
    await watcher.until(lambda: watcher.typing()[-1:] == [False])
    deltas = watcher.deltas()
    assert joined(deltas) == ANSWER
    # Batched, not one event per model chunk; every delta names the turn, the step and the attempt.
    assert 1 < len(deltas) < len(ANSWER) // 5
    assert {(d["turn"], d["step"], d["attempt"], d["conversation_id"]) for d in deltas} == {
        (f"turn:{target.conversation_id}:1", 1, 1, str(target.conversation_id))
    }
    assert watcher.typing() == [True, False]
    # Slack: one streamed reply in the conversation's thread, labelled, complete, escaped.
    assert result.slack_stream_ts is not None
    message = stream_of(zora, result.slack_stream_ts)
    assert message["streaming_state"] == "completed"
    assert message["text"].startswith("**Robin** (AI assistant)\n\n")
    assert unescape(message["text"].split("\n\n", 1)[1]) == ANSWER and "<&>" not in message["text"]
    [start] = [p for m, p in zora.standin.calls if m == "chat.startStream"][-1:]
    assert start["recipient_team_id"] == zora.standin.team_id and start["recipient_user_id"] == zora.standin.bot_user_id


async def test_a_retried_attempt_starts_over_and_removes_the_partial_slack_message(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    watcher, target = await watching(zora)
    # The demo model greets (a text answer) in pieces of 6 characters; it stalls after 8 chunks.
    standin.fail_next("hang", after_chunks=8)
    env, beats = environment(attempt=1)
    first = asyncio.create_task(env.run(llm.complete, request(target, "hello")))
    # Some text reached the widget and Slack before the provider stalled.
    await watcher.until(lambda: len(watcher.deltas(1)) >= 1)
    await until_beat(beats, lambda: any(len(b) > 1 for b in beats))
    standin.release()
    with pytest.raises(ApplicationError):
        await first
    partial = [d for d in beats if len(d) > 1][-1][1]
    assert {"channel": partial["channel"], "ts": partial["ts"]} == partial
    assert zora.standin.deleted[-1]["ts"] == partial["ts"]
    # The retry (another worker could run it) starts at offset 0 with its own attempt number.
    env, _ = environment(attempt=2, details=tuple(beats[-1]))
    result: LlmResult = await env.run(llm.complete, request(target, "hello"))
    await watcher.until(lambda: watcher.typing()[-1:] == [False] and len(watcher.typing()) >= 3)
    assert joined(watcher.deltas(2)) == result.content and watcher.deltas(2)[0]["offset"] == 0
    assert result.slack_stream_ts not in (None, partial["ts"])
    assert stream_of(zora, str(result.slack_stream_ts))["streaming_state"] == "completed"


async def test_a_retry_removes_what_a_crashed_attempt_left_in_slack(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    _, target = await watching(zora)
    [thread] = await zora.fetch(
        "SELECT channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1", target.conversation_id
    )
    left = await zora.services.slack.chat_startStream(
        channel=thread["channel_id"],
        thread_ts=thread["thread_ts"],
        recipient_team_id=zora.standin.team_id,
        recipient_user_id=zora.standin.bot_user_id,
        markdown_text="half an ans",
    )
    env, _ = environment(attempt=3, details=(11, {"channel": thread["channel_id"], "ts": left["ts"]}))
    standin.replay_next(sse("A whole answer."))
    result: LlmResult = await env.run(llm.complete, request(target))
    assert {"channel": thread["channel_id"], "ts": left["ts"]} in zora.standin.deleted
    assert result.slack_stream_ts is not None and result.slack_stream_ts != left["ts"]


async def test_a_workspace_without_streaming_gets_no_stream_and_the_widget_still_does(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    watcher, target = await watching(zora)
    zora.standin.refuse_streams()
    before = len(zora.standin.streams)
    standin.replay_next(sse(ANSWER))
    env, _ = environment()
    result: LlmResult = await env.run(llm.complete, request(target))
    assert result.slack_stream_ts is None and len(zora.standin.streams) == before
    await watcher.until(lambda: watcher.typing()[-1:] == [False])
    assert joined(watcher.deltas()) == ANSWER


async def test_a_step_that_asks_for_tools_leaves_nothing_in_slack(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    watcher, target = await watching(zora)
    standin.replay_next(sse("Let me look that up for you, one moment please." * 3, tool=True))
    env, _ = environment()
    result: LlmResult = await env.run(llm.complete, request(target))
    assert result.tool_calls and result.slack_stream_ts is None
    # Its text reached the widget (the next step's text replaces it there); the turn is still typing.
    await watcher.until(lambda: len(joined(watcher.deltas())) == len(result.content))
    assert watcher.typing() == [True]
    started = [s["message"]["ts"] for s in zora.standin.streams]
    assert all(ts in {d["ts"] for d in zora.standin.deleted} for ts in started[-1:])


async def test_slack_lost_mid_stream_costs_the_stream_not_the_answer(
    zora: Zora, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    watcher, target = await watching(zora)
    # Slack finishes the message, but the connection drops before its answer: Zora cannot know the
    # stream is whole, so the message goes and the turn posts the answer the ordinary way.
    zora.standin.lose_answers("chat.stopStream")
    standin.replay_next(sse(ANSWER))
    env, _ = environment()
    result: LlmResult = await env.run(llm.complete, request(target))
    assert result.content == ANSWER and result.slack_stream_ts is None
    started = zora.standin.streams[-1]["message"]["ts"]
    assert started in {d["ts"] for d in zora.standin.deleted}
    await watcher.until(lambda: watcher.typing()[-1:] == [False])
    assert joined(watcher.deltas()) == ANSWER
