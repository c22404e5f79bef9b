"""ConversationWorkflow over time: continue-as-new on long conversations, close and rehydrate, replay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.harness import Zora, running_zora
from tests.helpers import session_ref
from workflows.conversation import ConversationWorkflow
from workflows.sweeper import SweepWorkflow
from zora import transcript
from zora.models import ConversationOutcome, PostPendingToSlack, SweepRequest, conversation_workflow_id


def _workflow_id(zora: Zora, conversation_id: str) -> str:
    return conversation_workflow_id(zora.shop, uuid.UUID(conversation_id))


async def _replay_all_runs(zora: Zora, workflow_id: str, run_ids: list[str]) -> None:
    replayer = Replayer(workflows=[ConversationWorkflow], data_converter=pydantic_data_converter)
    for run_id in run_ids:
        history = await zora.services.temporal.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        await replayer.replay_workflow(history)


async def test_long_conversation_keeps_order_and_its_workflow_continues_as_new(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        ref = session_ref(zora, session)
        handle = zora.services.temporal.get_workflow_handle(_workflow_id(zora, session["conversation_id"]))
        total = 300
        texts = [f"message {i:03d}" for i in range(total)]
        assert (await shopper.send(texts[0], client_id="m0"))["ok"]
        first_run = await zora.workflow_run_id(session["conversation_id"])
        for start in range(1, total, 20):
            wave = texts[start : start + 20]
            acks = await asyncio.gather(*(shopper.send(t, client_id=f"m{start + i}") for i, t in enumerate(wave)))
            assert [a["seq"] for a in acks] == list(range(start + 1, start + 1 + len(wave)))
        await zora.standin.wait_for_posts(total + 1, timeout=60)
        assert [p["text"] for p in zora.standin.posted[1:]] == texts
        rows = await zora.fetch("SELECT seq, body FROM messages WHERE shop_id = $1 ORDER BY seq", zora.shop_id)
        assert [(r["seq"], r["body"]) for r in rows] == [(i + 1, t) for i, t in enumerate(texts)]

        # Messages do not grow the workflow's history; durable deliveries do. Ask for many (the
        # dev server suggests continue-as-new after 50 events in tests/conftest.py).
        for i in range(40):
            await handle.signal("deliver", PostPendingToSlack(reason=f"test {i}"))
        assert (await shopper.send("after the deliveries", client_id="last"))["ok"]
        await zora.standin.wait_for_posts(total + 2)
        for _ in range(1200):
            if (await handle.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.05)
        assert (await handle.describe()).run_id != first_run, "the workflow never continued as new"
        first_history = await zora.services.temporal.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
        assert first_history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        # The continued run still works: a stale message handed to it gets delivered.
        stale = await transcript.store_shopper_message(
            zora.services.pool, ref, "stale", "left behind", datetime.now(UTC)
        )
        await handle.signal("deliver", PostPendingToSlack(reason="test"))
        posts = await zora.standin.wait_for_posts(total + 3)
        assert posts[-1]["text"] == "left behind" and stale.message.seq == total + 2
        # Fast path and workflow never posted the same message twice.
        assert len(zora.standin.posted) == total + 3
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
        first_run = await zora.workflow_run_id(session["conversation_id"])
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
        # The shopper was told when it closed (seq 2); the new message follows it.
        closing = [m for m in shopper.received if m["direction"] == "agent"]
        assert [m["seq"] for m in closing] == [2] and "closed this conversation" in closing[0]["body"]
        assert [m["seq"] for m in shopper.received if m["client_id"] == "b"] == [3]
        rows = await zora.fetch("SELECT status FROM conversations WHERE id = $1::uuid", session["conversation_id"])
        assert rows[0]["status"] == "open"
        # The fresh run starts once the message that reopened it is in Slack (zora/app/relay.py).
        for _ in range(300):
            if (await handle.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no fresh run after the conversation was reopened")
        await _replay_all_runs(zora, handle.id, [first_run])


async def test_sweep_hands_messages_a_crashed_web_process_left_behind_to_their_workflow(
    infra: Any, database_url: str
) -> None:
    async with running_zora(infra, database_url) as zora:
        session = await zora.session()
        ref = session_ref(zora, session)
        # Stored and acked two minutes ago, then the web process died before posting or signalling.
        long_ago = datetime.now(UTC) - timedelta(minutes=2)
        for i in range(3):
            await transcript.store_shopper_message(zora.services.pool, ref, f"lost-{i}", f"left behind {i}", long_ago)
        handle = await zora.services.temporal.start_workflow(
            SweepWorkflow.run,
            SweepRequest(older_than_seconds=60),
            id=f"sweep-test-{uuid.uuid4()}",
            task_queue=zora.settings.temporal_task_queue,
        )
        assert (await handle.result()).handed_over == 1
        posts = await zora.standin.wait_for_posts(4)
        assert [p["text"] for p in posts[1:]] == ["left behind 0", "left behind 1", "left behind 2"]
        for _ in range(200):  # the status is written right after Slack answers
            rows = await zora.fetch("SELECT status FROM messages WHERE conversation_id = $1", ref.conversation_id)
            if {r["status"] for r in rows} == {"delivered"}:
                break
            await asyncio.sleep(0.05)
        assert {r["status"] for r in rows} == {"delivered"}
        # The sweep also gave the conversation its lifecycle owner.
        conv = zora.services.temporal.get_workflow_handle(_workflow_id(zora, session["conversation_id"]))
        assert (await conv.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_a_claim_that_arrives_with_a_fresh_runs_start_checks_the_loaded_status(
    infra: Any, database_url: str
) -> None:
    """A claim can reach a fresh run in its very first task, before the run has loaded who holds the
    conversation from PostgreSQL: it must wait for that, not judge a blank state."""
    from temporalio.client import WorkflowUpdateFailedError

    from widget.emitter import ShopperEmitter
    from zora.app.worker import build_worker
    from zora.models import AgentAction, Assignment, ConversationConfig
    from zora.temporal import Conversations

    async with running_zora(infra, database_url) as zora:
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        assert (await shopper.send("hello"))["ok"]
        cid = session["conversation_id"]
        await zora.workflow_run_id(cid)
        handle = zora.services.temporal.get_workflow_handle(_workflow_id(zora, cid))
        await handle.execute_update("assign", AgentAction(user_id="U0HOLDER01"), result_type=Assignment)
        await handle.terminate("the run is gone; PostgreSQL still says who holds it")

        # The next run starts on a queue no worker polls yet, so its first task carries the start,
        # the signal and the claim together.
        queue = f"late-{uuid.uuid4().hex[:8]}"
        ref = session_ref(zora, session)
        await Conversations(zora.services.temporal, queue, ConversationConfig()).opened(ref, datetime.now(UTC))
        claim = asyncio.create_task(
            handle.execute_update("assign", AgentAction(user_id="U0LATE0001"), result_type=Assignment)
        )
        await asyncio.sleep(1)  # order only: the claim reaches the server before a worker asks for work
        emitter = ShopperEmitter(zora.settings.redis_url or "")
        try:
            async with build_worker(zora.services, emitter, task_queue=queue):
                try:
                    result = await claim
                except WorkflowUpdateFailedError as exc:
                    assert "Already claimed by <@U0HOLDER01>" in str(exc.cause)
                else:
                    raise AssertionError(f"the claim took a conversation someone holds: {result}")
        finally:
            await emitter.close()
        rows = await zora.fetch("SELECT assignee FROM conversations WHERE id = $1::uuid", cid)
        assert rows[0]["assignee"] == "U0HOLDER01"
