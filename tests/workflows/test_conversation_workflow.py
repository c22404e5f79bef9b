"""ConversationWorkflow over time: continue-as-new on long conversations, close and rehydrate, replay."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.harness import Zora, running_zora
from workflows.conversation import ConversationWorkflow
from zora.models import ConversationOutcome, conversation_workflow_id


def _workflow_id(zora: Zora, conversation_id: str) -> str:
    return conversation_workflow_id(zora.shop, uuid.UUID(conversation_id))


async def _replay_all_runs(zora: Zora, workflow_id: str, run_ids: list[str]) -> None:
    replayer = Replayer(workflows=[ConversationWorkflow], data_converter=pydantic_data_converter)
    for run_id in run_ids:
        history = await zora.services.temporal.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        await replayer.replay_workflow(history)


async def test_long_conversation_continues_as_new_without_losing_or_reordering(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        handle = zora.services.temporal.get_workflow_handle(_workflow_id(zora, session["conversation_id"]))
        total = 120
        texts = [f"message {i:03d}" for i in range(total)]
        assert (await shopper.send(texts[0], client_id="m0"))["ok"]
        first_run = (await handle.describe()).run_id
        assert first_run is not None
        # Waves of ten, each stored before the next is sent: every wave is at least one workflow
        # task, so the history grows past the dev server's low limit (tests/conftest.py) for sure.
        for start in range(1, total, 10):
            wave = texts[start : start + 10]
            acks = await asyncio.gather(*(shopper.send(t, client_id=f"m{start + i}") for i, t in enumerate(wave)))
            assert all(a["ok"] for a in acks)
            last = f"m{start + len(wave) - 1}"
            await shopper.wait_for(lambda last=last: any(m["client_id"] == last for m in shopper.received))
        await zora.standin.wait_for_posts(total + 1, timeout=60)
        thread = zora.standin.posted
        assert [p["text"] for p in thread[1:]] == texts
        rows = await zora.fetch("SELECT seq, body FROM messages WHERE shop_id = $1 ORDER BY seq", zora.shop_id)
        assert [(r["seq"], r["body"]) for r in rows] == [(i + 1, t) for i, t in enumerate(texts)]

        description = await handle.describe()
        assert description.run_id != first_run, "the workflow never continued as new"
        first_history = await zora.services.temporal.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
        assert first_history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        # The continued run still answers: an agent reply reaches the shopper.
        assert await zora.standin.agent_reply(thread[0]["channel"], thread[0]["ts"], "still here") == 200
        await shopper.wait_for(lambda: any(m["body"] == "still here" for m in shopper.agent_messages()))
        await _replay_all_runs(zora, handle.id, [first_run])


async def test_idle_conversation_closes_and_a_new_message_rehydrates_it(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, idle_close_hours=1.5 / 3600) as zora:
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        handle = zora.services.temporal.get_workflow_handle(
            _workflow_id(zora, session["conversation_id"]), result_type=ConversationOutcome
        )
        assert (await shopper.send("are you there?", client_id="a"))["ok"]
        root, _ = await zora.standin.wait_for_posts(2)
        first_run = (await handle.describe()).run_id
        assert first_run is not None
        outcome = await handle.result()
        assert outcome.status == "closed" and outcome.reason == "idle"
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        rows = await zora.fetch(
            "SELECT status, closed_at FROM conversations WHERE id = $1::uuid", session["conversation_id"]
        )
        assert rows[0]["status"] == "closed" and rows[0]["closed_at"] is not None

        # Writing again starts a fresh run that finds the thread and the seq in PostgreSQL.
        assert (await shopper.send("hello again", client_id="b"))["ok"]
        posts = await zora.standin.wait_for_posts(3)
        assert posts[2]["text"] == "hello again" and posts[2]["thread_ts"] == root["ts"]
        await shopper.wait_for(lambda: any(m["client_id"] == "b" for m in shopper.received))
        assert [m["seq"] for m in shopper.received if m["client_id"] == "b"] == [2]
        rows = await zora.fetch("SELECT status FROM conversations WHERE id = $1::uuid", session["conversation_id"])
        assert rows[0]["status"] == "open"
        assert (await handle.describe()).run_id != first_run
        await _replay_all_runs(zora, handle.id, [first_run])
