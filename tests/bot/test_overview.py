"""`/zora` lists and the App Home: open, unassigned and mine, with links to the threads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Zora, running_zora

OTHER = "U0AGENT002"


@pytest.fixture(scope="module")
async def zora(infra: Any, database_url: str) -> AsyncIterator[Zora]:
    async with running_zora(infra, database_url) as z:
        z.standin.add_user(OTHER, "bo", "Bo Agent")
        # Three conversations: one claimed by AGENT, one by OTHER, one nobody's.
        roots = []
        for text in ("mine", "theirs", "nobody"):
            shopper = await z.shopper()
            before = len(z.standin.posted)
            assert (await shopper.send(text))["ok"]
            roots.append((await z.standin.wait_for_posts(before + 2))[before]["ts"])
        assert await z.standin.press_button(CHANNEL, roots[0], "zora_claim", "-", user=AGENT) == 200
        assert await z.standin.press_button(CHANNEL, roots[1], "zora_claim", "-", user=OTHER) == 200
        yield z


async def _zora(zora: Zora, text: str) -> dict[str, Any]:
    status, answer = await zora.standin.slash_command("/zora", text, user=AGENT, channel=CHANNEL)
    assert status == 200 and isinstance(answer, dict)
    assert answer.get("response_type") == "ephemeral"
    return answer


async def test_lists_open_unassigned_and_mine(zora: Zora) -> None:
    everything = json.dumps((await _zora(zora, "open"))["blocks"])
    assert "Open conversations* (3)" in everything and everything.count("https://slack.com/archives/") == 3
    unassigned = json.dumps((await _zora(zora, "unassigned"))["blocks"])
    assert "Unassigned* (1)" in unassigned and "unassigned" in unassigned
    mine = json.dumps((await _zora(zora, "mine"))["blocks"])
    assert "Assigned to you* (1)" in mine and f"<@{AGENT}>" in mine and f"<@{OTHER}>" not in mine


async def test_help_and_unknown_words(zora: Zora) -> None:
    assert "/zora open" in (await _zora(zora, ""))["text"]
    unknown = (await _zora(zora, "dance"))["text"]
    assert unknown.startswith("I don't know `dance`") and "/zora mine" in unknown


async def test_app_home_shows_the_same_overview(zora: Zora) -> None:
    assert await zora.standin.open_app_home(OTHER) == 200
    view = zora.standin.home_views[OTHER]
    text = json.dumps(view["blocks"])
    assert "Open conversations* (3)" in text and "Unassigned* (1)" in text and "Assigned to you* (1)" in text
    assert f"<@{OTHER}>" in text
