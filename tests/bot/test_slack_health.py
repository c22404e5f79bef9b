"""Slack failures are visible (`zora doctor`) and lose nothing: waiting messages go out, in order,
once Slack works again, without the shopper having to write again."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.harness import Zora, running_zora
from workflows.sweeper import SweepWorkflow
from zora.doctor import doctor
from zora.models import SweepRequest


async def _sweep(zora: Zora) -> int:
    handle = await zora.services.temporal.start_workflow(
        SweepWorkflow.run,
        SweepRequest(older_than_seconds=60),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )
    return (await handle.result()).handed_over


async def _doctor(zora: Zora) -> tuple[int, str]:
    lines: list[str] = []
    code = await doctor(zora.settings, out=lines.append)
    return code, "\n".join(lines)


async def test_broken_channel_is_reported_and_healed_by_the_sweep(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        code, report = await _doctor(zora)
        assert code == 0 and "all good" in report and "database   ok" in report

        shopper = await zora.shopper()
        zora.standin.fail("chat.postMessage", "not_in_channel", times=100)
        for i in range(2):
            assert (await shopper.send(f"waiting {i}", client_id=f"w{i}"))["ok"]
        await shopper.wait_for(lambda: len([s for s in shopper.statuses if s["status"] == "undelivered"]) >= 1)

        code, report = await _doctor(zora)
        assert code == 1
        assert "SLACK ERROR not_in_channel" in report and "/invite @Zora" in report
        assert "message(s) waiting for Slack" in report and "1 problem(s) found" in report

        # While Slack still refuses, the sweep leaves the messages where they are.
        zora.standin.fail("conversations.info", "not_in_channel")
        assert await _sweep(zora) == 0
        # Fixed (the bot was invited): the next sweep notices and delivers, oldest first.
        zora.standin.clear_failures("chat.postMessage")
        assert await _sweep(zora) == 1
        posts = await zora.standin.wait_for_posts(3)
        assert [p["text"] for p in posts[1:]] == ["waiting 0", "waiting 1"]
        for _ in range(100):
            code, report = await _doctor(zora)
            if code == 0:
                break
            await asyncio.sleep(0.05)
        assert code == 0, report
        await shopper.wait_for(
            lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "delivered"} == {"w0", "w1"}
        )


async def test_messages_refused_earlier_go_out_after_another_conversation_cleared_the_error(
    infra: Any, database_url: str
) -> None:
    """Slack works again and the first to notice is a new conversation's post, which clears the shop's
    error: the older conversation's refused messages must still be handed over by the sweep (it used to
    look only at shops it healed itself, so they waited until their shopper wrote again)."""
    async with running_zora(infra, database_url) as zora:
        first = await zora.shopper()
        zora.standin.fail("chat.postMessage", "not_in_channel", times=100)
        assert (await first.send("refused at first", client_id="r0"))["ok"]
        await first.wait_for(lambda: any(s["status"] == "undelivered" for s in first.statuses))
        zora.standin.clear_failures("chat.postMessage")
        second = await zora.shopper()
        assert (await second.send("a new conversation", client_id="n0"))["ok"]
        await second.wait_for(lambda: any(s["status"] == "delivered" for s in second.statuses))
        _, report = await _doctor(zora)
        assert "SLACK ERROR" not in report, report  # the new post cleared it

        assert await _sweep(zora) == 1
        await first.wait_for(lambda: any(s["status"] == "delivered" for s in first.statuses))
        assert "refused at first" in [p["text"] for p in zora.standin.posted]


def test_the_manifest_asks_for_exactly_the_scopes_zora_checks() -> None:
    import re
    from pathlib import Path

    from zora.slack_app import BOT_SCOPES

    manifest = (Path(__file__).resolve().parents[2] / "slack" / "manifest.yml").read_text()
    bot = manifest.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    assert re.findall(r"^\s+- ([a-z:.]+)", bot, flags=re.M) == list(BOT_SCOPES)


async def test_doctor_names_scopes_an_older_install_lacks(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        zora.standin.scopes = tuple(s for s in zora.standin.scopes if not s.startswith("files:"))
        code, report = await _doctor(zora)
        assert code == 1
        assert "the app lacks files:read, files:write" in report and "slack/manifest.yml" in report
