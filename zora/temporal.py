"""Temporal client, and the ways Zora talks to its workflows."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from zora.models import (
    SA_SHOP,
    SA_STATUS,
    ConversationConfig,
    ConversationInput,
    ConversationRef,
    SweepRequest,
    conversation_workflow_id,
)
from zora.tracing import temporal_interceptors

log = logging.getLogger(__name__)

SWEEP_SCHEDULE_ID = "zora-sweep-undelivered"


async def connect(address: str, namespace: str, *, tls: bool | TLSConfig = False, api_key: str | None = None) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=api_key,
        interceptors=temporal_interceptors(),
    )


async def signal_conversation(
    client: Client,
    task_queue: str,
    ref: ConversationRef,
    config: ConversationConfig,
    signal: Literal["opened", "deliver", "close", "agent_replied", "files_shared"],
    arg: BaseModel,
) -> None:
    """Signal-with-start: durable once this returns; starts a run when none is open.

    A closed conversation gets a fresh run (its state lives in PostgreSQL, not in the old run).
    """
    await client.start_workflow(
        "ConversationWorkflow",
        ConversationInput(ref=ref, config=config),
        id=conversation_workflow_id(ref.shop, ref.conversation_id),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[arg],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SA_SHOP, ref.shop), SearchAttributePair(SA_STATUS, "open")]
        ),
    )


async def ensure_sweep_schedule(client: Client, task_queue: str, every: timedelta = timedelta(minutes=1)) -> None:
    """The schedule that hands stale undelivered messages to their workflows (created once)."""
    try:
        await client.create_schedule(
            SWEEP_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "SweepWorkflow", SweepRequest(), id="zora-sweep", task_queue=task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
        log.info("created schedule %s", SWEEP_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        pass
