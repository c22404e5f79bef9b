"""Temporal client and the one way shopper/agent input enters a conversation: signal-with-start."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter

from zora.models import (
    SA_SHOP,
    SA_STATUS,
    AgentMessage,
    ConversationConfig,
    ConversationInput,
    ConversationRef,
    ShopperMessage,
    conversation_workflow_id,
)


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)


async def send_to_conversation(
    client: Client,
    task_queue: str,
    ref: ConversationRef,
    config: ConversationConfig,
    message: ShopperMessage | AgentMessage,
) -> None:
    """Durable once this returns: the server has the signal, and starts a run if none is open.

    A closed conversation gets a fresh run that rehydrates from PostgreSQL (state=None).
    """
    signal = "shopper_message" if isinstance(message, ShopperMessage) else "agent_message"
    await client.start_workflow(
        "ConversationWorkflow",
        ConversationInput(ref=ref, config=config),
        id=conversation_workflow_id(ref.shop, ref.conversation_id),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[message],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SA_SHOP, ref.shop), SearchAttributePair(SA_STATUS, "open")]
        ),
    )
