"""The Slack stand-in's message streaming (chat.startStream / appendStream / stopStream), driven through
the real slack_sdk client and checked against the arguments Slack documents for each method
(../shared/fixtures/slack/api-chat-stream.json: no response example is published, see SOURCES.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.conftest import fixtures_dir
from tests.standins.conftest import CHANNEL, TOKEN
from zora.standins.slack import SlackStandIn

TEAM = "T0ZORA0001"
BOT_USER = "U0ZORABOT1"
RECIPIENT = {"recipient_team_id": TEAM, "recipient_user_id": BOT_USER}


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url)


async def error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def thread(client: AsyncWebClient) -> str:
    return str((await client.chat_postMessage(channel=CHANNEL, text="a shopper asks"))["ts"])


async def test_a_stream_grows_and_stops_in_the_thread(client: AsyncWebClient, standin: SlackStandIn) -> None:
    root = await thread(client)
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=root, markdown_text="**Robin**\n\n", **RECIPIENT)
    assert started["ok"] and started["channel"] == CHANNEL and isinstance(started["ts"], str)
    ts = started["ts"]
    appended = await client.chat_appendStream(channel=CHANNEL, ts=ts, markdown_text="Your parcel ")
    assert appended["ok"] and appended["ts"] == ts and appended["channel"] == CHANNEL
    stopped = await client.chat_stopStream(channel=CHANNEL, ts=ts, markdown_text="left today.")
    assert stopped["ok"] and stopped["ts"] == ts
    assert stopped["message"]["text"] == "**Robin**\n\nYour parcel left today."
    assert stopped["message"]["streaming_state"] == "completed"
    # A reply in the thread, as conversations.replies shows it; a stopped stream takes nothing more.
    replies = (await client.conversations_replies(channel=CHANNEL, ts=root))["messages"]
    assert [m["ts"] for m in replies] == [root, ts] and replies[1]["thread_ts"] == root
    assert await error_of(client.chat_appendStream(channel=CHANNEL, ts=ts, markdown_text="more")) == (
        "message_not_in_streaming_state"
    )
    assert await error_of(client.chat_stopStream(channel=CHANNEL, ts=ts)) == "message_not_in_streaming_state"
    assert await error_of(client.chat_stopStream(channel=CHANNEL, ts="1.000001")) == "message_not_found"
    # The bot may delete what it streamed.
    assert (await client.chat_delete(channel=CHANNEL, ts=ts))["ok"]


async def test_documented_arguments(client: AsyncWebClient, standin: SlackStandIn) -> None:
    documented = json.loads((fixtures_dir("slack") / "api-chat-stream.json").read_text())
    root = await thread(client)
    ts = (await client.chat_startStream(channel=CHANNEL, thread_ts=root, **RECIPIENT))["ts"]
    full = {
        "chat.startStream": {"channel": CHANNEL, "thread_ts": root, "markdown_text": "hi", **RECIPIENT},
        "chat.appendStream": {"channel": CHANNEL, "ts": ts, "markdown_text": "more"},
        "chat.stopStream": {"channel": CHANNEL, "ts": ts},
    }
    for method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
        for argument in documented[method]["required_arguments"]:
            name = argument["name"]
            if name == "token":
                continue
            params = {k: v for k, v in full[method].items() if k != name}
            # A required argument left out: Slack's invalid_arguments, naming it.
            assert await error_of(client.api_call(method, json=params)) == "invalid_arguments", (method, name)
    # Every documented optional argument is taken (the stand-in shows text only).
    optional = {
        "task_display_mode": "plan",
        "icon_emoji": ":robot_face:",
        "chunks": [documented["markdown_text_chunk_example"]],
    }
    started = await client.api_call("chat.startStream", json={**full["chat.startStream"], **optional})
    assert started["ok"]
    stopped = await client.api_call(
        "chat.stopStream", json={"channel": CHANNEL, "ts": started["ts"], "session_status": "closed"}
    )
    assert stopped["ok"]


async def test_refusals(client: AsyncWebClient, standin: SlackStandIn) -> None:
    root = await thread(client)
    # In a channel Slack needs to know whose request the stream answers.
    assert await error_of(client.chat_startStream(channel=CHANNEL, thread_ts=root)) == "missing_recipient_team_id"
    assert (
        await error_of(client.chat_startStream(channel=CHANNEL, thread_ts=root, recipient_team_id=TEAM))
        == "missing_recipient_user_id"
    )
    assert await error_of(client.chat_startStream(channel=CHANNEL, thread_ts="1.000001", **RECIPIENT)) == (
        "thread_not_found"
    )
    assert await error_of(client.chat_startStream(channel="C0NOWHERE", thread_ts=root, **RECIPIENT)) == (
        "channel_not_found"
    )
    too_long = "x" * 12_001
    assert await error_of(
        client.chat_startStream(channel=CHANNEL, thread_ts=root, markdown_text=too_long, **RECIPIENT)
    ) == ("msg_too_long")
    # A workspace (or channel) without streaming, and a method Slack does not have.
    standin.refuse_streams()
    assert await error_of(client.chat_startStream(channel=CHANNEL, thread_ts=root, **RECIPIENT)) == (
        "method_not_supported_for_channel_type"
    )
    standin.refuse_streams(None)
    assert (await client.chat_startStream(channel=CHANNEL, thread_ts=root, **RECIPIENT))["ok"]
    assert await error_of(client.api_call("chat.rewindStream", json={"channel": CHANNEL})) == "unknown_method"
