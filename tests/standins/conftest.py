"""A fresh Slack stand-in (one channel, #support) for each test of the stand-in itself;
test_slack_standin.py, whose tests also receive its events, has its own `standin` in its place."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers import slack_standin
from zora.standins.slack import SlackStandIn

TOKEN = "xoxb-standin-test-token"
CHANNEL = "C0SUPPORT1"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    async with slack_standin(TOKEN, CHANNEL, signing_secret="standin-secret") as slack:
        yield slack
