"""The Slack stand-in's conversations.history and its lost answers (a call carried out, its answer dropped)."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.standins.conftest import CHANNEL, TOKEN
from zora.standins.slack import SlackStandIn


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    # No retry handlers, as Zora's client: a dropped answer must surface, not be retried into a second post.
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url, retry_handlers=[])


async def test_history_is_newest_first_without_replies_paged_with_metadata_on_request(client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(
        channel=CHANNEL, text="first", metadata={"event_type": "card", "event_payload": {"n": 1}}
    )
    await client.chat_postMessage(channel=CHANNEL, text="a reply", thread_ts=first["ts"])
    second = await client.chat_postMessage(channel=CHANNEL, text="second")
    third = await client.chat_postMessage(channel=CHANNEL, text="third")

    page = await client.conversations_history(channel=CHANNEL, limit=2)
    assert [m["text"] for m in page["messages"]] == ["third", "second"]
    assert page["has_more"] is True
    rest = await client.conversations_history(
        channel=CHANNEL, limit=2, cursor=page["response_metadata"]["next_cursor"], include_all_metadata=True
    )
    assert [m["text"] for m in rest["messages"]] == ["first"]
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""
    assert rest["messages"][0]["metadata"] == {"event_type": "card", "event_payload": {"n": 1}}
    assert rest["messages"][0]["reply_count"] == 1
    plain = await client.conversations_history(channel=CHANNEL, oldest=first["ts"])
    assert [m["text"] for m in plain["messages"]] == ["third", "second"]
    assert all("metadata" not in m for m in plain["messages"])
    bounded = await client.conversations_history(
        channel=CHANNEL, oldest=second["ts"], latest=third["ts"], inclusive=True
    )
    assert [m["text"] for m in bounded["messages"]] == ["third", "second"]


async def test_a_lost_answer_is_carried_out_but_never_reaches_the_caller(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    standin.lose_answers("chat.postMessage")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel=CHANNEL, text="did it go?")
    assert [p["text"] for p in standin.posted] == ["did it go?"]
    # Only the next call: the one after answers again.
    answer = await client.chat_postMessage(channel=CHANNEL, text="again")
    assert answer["ok"]
