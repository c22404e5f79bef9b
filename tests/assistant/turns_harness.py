"""A running Zora whose assistant speaks to the OpenAI stand-in, and what the turn tests look at."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.harness import CHANNEL, Shopper, Zora, running_zora
from tests.helpers import set_shop_settings
from zora.models import conversation_workflow_id
from zora.standins.openai import OpenAIStandIn

POLICIES = "Returns are free within 30 days."


@dataclass
class AiZora:
    zora: Zora
    model: OpenAIStandIn


@asynccontextmanager
async def running_ai_zora(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    model = OpenAIStandIn()
    await model.start()
    try:
        async with running_zora(infra, database_url, openai_base_url=model.base_url, openai_model="zora-demo") as zora:
            # Each test sets the shop's assistant as it needs; the web process must see it at once.
            zora.widget().assistant.ttl = 0
            yield AiZora(zora, model)
    finally:
        model.release()
        await model.stop()


async def assistant_on(zora: Zora, mode: str = "always_first", **assistant: Any) -> None:
    await set_shop_settings(
        zora,
        assistant={"enabled": True, "mode": mode, "persona_name": "Ada", "policies": POLICIES, **assistant},
    )


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:  # noqa: ASYNC109
    """Polls `check` (sync or async) until it returns something truthy."""

    async def loop() -> Any:
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(loop(), timeout)


async def thread_of(zora: Zora, conversation_id: str) -> str:
    async def ts() -> str | None:
        rows = await zora.fetch("SELECT thread_ts FROM slack_threads WHERE conversation_id = $1::uuid", conversation_id)
        return str(rows[0]["thread_ts"]) if rows else None

    found: str = await until(ts)
    return found


async def replies(zora: Zora, conversation_id: str) -> list[dict[str, Any]]:
    root = await thread_of(zora, conversation_id)
    return zora.standin.thread(CHANNEL, root)[1:]


async def card(zora: Zora, conversation_id: str) -> dict[str, Any]:
    root = await thread_of(zora, conversation_id)
    return zora.standin.thread(CHANNEL, root)[0]


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def ai_messages(shopper: Shopper) -> list[dict[str, Any]]:
    return [m for m in shopper.received if m.get("assistant")]


async def turn_status(zora: Zora, conversation_id: str, seq: int) -> WorkflowExecutionStatus | None:
    handle = zora.services.temporal.get_workflow_handle(f"turn:{conversation_id}:{seq}")
    try:
        return (await handle.describe()).status
    except RPCError:
        return None


async def turns(zora: Zora, conversation_id: str) -> list[Any]:
    return await zora.fetch(
        "SELECT id, seq, outcome, reason, prompt_tokens, completion_tokens FROM assistant_turns"
        " WHERE conversation_id = $1::uuid ORDER BY seq",
        conversation_id,
    )


async def handled_signals(zora: Zora, conversation_id: str, name: str) -> int:
    """How many `name` signals the conversation's workflow has received and finished a task after."""
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(conversation_id)))
    try:
        events = [e async for e in handle.fetch_history_events()]
    except RPCError:
        return 0  # not started yet
    seen = handled = 0
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if event.workflow_execution_signaled_event_attributes.signal_name == name:
                seen += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            handled = seen
    return handled


async def children(zora: Zora, conversation_id: str) -> list[str]:
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(conversation_id)))
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]


async def model_calls(zora: Zora, turn_id: str) -> list[dict[str, Any]]:
    """The LlmRequests a turn scheduled (its llm_complete activities' inputs)."""
    import json

    handle = zora.services.temporal.get_workflow_handle(turn_id)
    found = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "llm_complete":
                found.append(json.loads(attributes.input.payloads[0].data))
    return found
