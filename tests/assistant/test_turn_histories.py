"""A conversation the assistant answered, and one of its turns, replay from their own histories; with
ZORA_RECORD_HISTORIES=1 they are written to tests/workflows/histories (conversation-005.json,
assistant-turn-002.json), which tests/workflows/test_replay.py and test_recorded_turns_replay keep
replaying with later code."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.assistant.turns_harness import (
    POLICIES,
    AiZora,
    ai_messages,
    assistant_on,
    replies,
    running_ai_zora,
    turn_status,
    turns,
    until,
)
from workflows.assistant import AssistantTurnWorkflow
from workflows.conversation import ConversationWorkflow
from zora.models import CloseRequest, conversation_workflow_id
from zora.store.compliance import Person, redact_customer

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


@pytest.fixture(scope="module")
async def ai(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    async with running_ai_zora(infra, database_url) as running:
        yield running


async def _replays(workflow: type, history: WorkflowHistory) -> None:
    replayer = Replayer(
        workflows=[workflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "zora.models", "zora.assistant", "zora.assistant_turns", "pydantic"
            )
        ),
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


async def test_a_conversation_with_turns_replays_from_its_own_history(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    session = await zora.session()
    cid = session["conversation_id"]
    shopper = await zora.shopper(session["token"])
    # Every command the assistant adds: a turn answered with a tool, a turn cancelled by a newer
    # message, the answer delivered, the shopper asking for a person (the handover), then the close.
    assert (await shopper.send("What is your return policy?"))["ok"]
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    asked = len(ai.model.requests)
    ai.model.fail_next("hang")
    hung = (await shopper.send("one more thing"))["seq"]
    # Its turn's model call hangs (not the next turn's), then a newer message cancels it.
    await until(lambda: len(ai.model.requests) > asked)
    assert (await shopper.send("hello"))["ok"]
    await until(lambda: len(ai_messages(shopper)) >= 2)
    ai.model.release()
    assert (await shopper.call("ask_for_person", {"reason": "recorded"}))["ok"]
    await until(lambda: handed_over(zora, cid))
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    await handle.signal("close", CloseRequest(reason="recorded"))
    await handle.result()
    assert [t["outcome"] for t in await turns(zora, cid)] == ["answered", "cancelled", "answered"]
    assert await turn_status(zora, cid, hung) is not None

    conversation = await handle.fetch_history()
    await _replays(ConversationWorkflow, conversation)
    turn = await zora.services.temporal.get_workflow_handle(f"turn:{cid}:1").fetch_history()
    await _replays(AssistantTurnWorkflow, turn)
    if os.environ.get("ZORA_RECORD_HISTORIES"):
        (HISTORIES / "conversation-005.json").write_text(conversation.to_json())
        (HISTORIES / "assistant-turn-002.json").write_text(turn.to_json())


async def handed_over(zora: Any, cid: str) -> bool:
    return any("handed this conversation" in m.get("text", "") for m in await replies(zora, cid))


async def test_a_customers_erasure_takes_the_assistants_words_too(ai: AiZora) -> None:
    """customers/redact (zora/store/compliance.py): the assistant's posts in Slack (its answer, the
    handover note that quotes the shopper) are queued for deletion, and its audit loses its words."""
    zora = ai.zora
    await assistant_on(zora)
    session = await zora.session()
    cid = session["conversation_id"]
    shopper = await zora.shopper(session["token"])
    assert (await shopper.send("What is your return policy?"))["ok"]
    await until(lambda: any(POLICIES in m["body"] for m in ai_messages(shopper)))
    assert (await shopper.call("ask_for_person", {}))["ok"]
    await until(lambda: handed_over(zora, cid))
    answer_ts = await until(lambda: ai_post(zora, cid))
    [note] = await zora.fetch("SELECT assistant_note_ts FROM conversations WHERE id = $1::uuid", cid)
    assert note["assistant_note_ts"] is not None
    email = f"erase-{uuid.uuid4().hex[:8]}@example.com"
    await zora.fetch("UPDATE shoppers SET email = $2 WHERE id = $1::uuid", session["shopper_id"], email)

    batch = uuid.uuid4()
    async with zora.services.pool.acquire() as conn, conn.transaction():
        person = Person(customer_id=None, email=email, phone=None, order_ids=[])
        await redact_customer(conn, zora.shop_id, person, erasure_batch=batch, conversations_out=[])
    queued = {r["ts"] for r in await zora.fetch("SELECT ts FROM slack_erasures WHERE batch = $1", batch)}
    assert {answer_ts, note["assistant_note_ts"]} <= queued
    [turn] = await zora.fetch(
        "SELECT id, answer, prompt_tokens FROM assistant_turns WHERE conversation_id = $1::uuid", cid
    )
    assert turn["answer"] is None and turn["prompt_tokens"] > 0
    assert await zora.fetch("SELECT 1 FROM assistant_tool_calls WHERE turn_id = $1", turn["id"]) == []


async def ai_post(zora: Any, cid: str) -> str | None:
    rows = await zora.fetch(
        "SELECT slack_ts FROM messages WHERE conversation_id = $1::uuid AND author_id = 'ai' AND slack_ts IS NOT NULL",
        cid,
    )
    return str(rows[0]["slack_ts"]) if rows else None
