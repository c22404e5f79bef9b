"""The Slack stand-in's server troubles (`server_error`, `hang`), driven through the real slack_sdk client:
what a caller sees, and whether Slack did the work anyway."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.standins.conftest import CHANNEL, TOKEN
from zora.standins.slack import SlackStandIn


async def test_server_error_answers_the_status_and_does_nothing(standin: SlackStandIn) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=standin.base_url)
    standin.server_error("chat.postMessage", times=2, status=503)

    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel=CHANNEL, text="hi")
        assert caught.value.response.status_code == 503
        assert caught.value.response["error"] == "internal_error"
    assert standin.posted == []
    assert (await client.chat_postMessage(channel=CHANNEL, text="hi"))["ok"] is True
    assert len(standin.posted) == 1


async def test_server_error_after_the_work_posts_yet_answers_500(standin: SlackStandIn) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=standin.base_url)
    standin.server_error("chat.postMessage", carried_out=True)

    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=CHANNEL, text="maybe")
    assert caught.value.response.status_code == 500
    assert [p["text"] for p in standin.posted] == ["maybe"]


async def test_hang_outlasts_the_callers_timeout_then_posts(standin: SlackStandIn) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=standin.base_url, timeout=1)
    standin.hang("chat.postMessage", seconds=2.0)

    with pytest.raises(asyncio.TimeoutError):
        await client.chat_postMessage(channel=CHANNEL, text="late")
    assert standin.posted == []
    # The caller gave up; Slack carries the post out all the same.
    await standin.wait_for_posts(1, timeout=30)
    assert [p["text"] for p in standin.posted] == ["late"]
    # One hang only: the next call is answered at once.
    assert (await client.chat_postMessage(channel=CHANNEL, text="next"))["ok"] is True
