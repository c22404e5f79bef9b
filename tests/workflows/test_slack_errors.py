"""Slack's 429 as Temporal sees it: the activity's failure carries Slack's Retry-After as the next
retry delay, so Temporal neither hammers Slack nor waits its own backoff instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.slack_response import SlackResponse
from temporalio.exceptions import ApplicationError

from activities.slack_errors import raise_if_rate_limited, rate_limited
from zora.standins.slack import SlackStandIn


def test_the_failure_carries_slacks_delay() -> None:
    error = rate_limited(7.5)
    assert (error.message, error.type) == ("Slack rate limit", "SlackRateLimited")
    assert error.next_retry_delay == timedelta(seconds=7.5)
    assert not error.non_retryable


async def test_a_429_from_slack_becomes_a_retry_after_its_delay() -> None:
    standin = SlackStandIn(bot_token="xoxb-t", signing_secret="s")
    standin.add_channel("C0ERRORS01", "errors")
    await standin.start()
    try:
        # The client as Zora builds it: no retries of its own (zora/services.py).
        slack = AsyncWebClient(token="xoxb-t", base_url=standin.base_url, retry_handlers=[])
        standin.rate_limit("chat.postMessage", retry_after=42)
        standin.fail("chat.postMessage", "channel_not_found")
        with pytest.raises(SlackApiError) as limited:
            await slack.chat_postMessage(channel="C0ERRORS01", text="x")
        with pytest.raises(ApplicationError) as failure:
            raise_if_rate_limited(limited.value)
        assert failure.value.type == "SlackRateLimited"
        assert failure.value.next_retry_delay == timedelta(seconds=42)
        # Any other Slack error is left to the caller's own policy.
        with pytest.raises(SlackApiError) as other:
            await slack.chat_postMessage(channel="C0ERRORS01", text="x")
        raise_if_rate_limited(other.value)
    finally:
        await standin.stop()


def test_a_429_without_retry_after_waits_one_second() -> None:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="chat.postMessage",
        req_args={},
        data={"ok": False},
        headers={},
        status_code=429,
    )
    with pytest.raises(ApplicationError) as failure:
        raise_if_rate_limited(SlackApiError("ratelimited", response))
    assert failure.value.next_retry_delay == timedelta(seconds=1)
