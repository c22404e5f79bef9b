"""Models shared by the web process, workflows and activities.

Workflows import this module, so it must stay free of I/O libraries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

Direction = Literal["shopper", "agent"]
MessageStatus = Literal["stored", "delivered", "undelivered"]
ConversationStatus = Literal["open", "assigned", "resolved", "closed"]

# Custom search attributes, registered on the Temporal namespace by `zora dev` and the tests.
SA_SHOP = SearchAttributeKey.for_keyword("ZoraShop")
SA_STATUS = SearchAttributeKey.for_keyword("ZoraStatus")
SEARCH_ATTRIBUTES = (SA_SHOP, SA_STATUS)


def conversation_workflow_id(shop: str, conversation_id: UUID) -> str:
    return f"conv:{shop}:{conversation_id}"


class ConversationRef(BaseModel):
    """Who a conversation belongs to; taken from a token Zora signed, never from client input."""

    shop: str
    shop_id: int
    conversation_id: UUID
    shopper_id: UUID


class ShopperMessage(BaseModel):
    kind: Literal["shopper"] = "shopper"
    client_id: str
    body: str
    received_at: datetime


class AgentMessage(BaseModel):
    kind: Literal["agent"] = "agent"
    team_id: str
    channel: str
    ts: str
    thread_ts: str
    user_id: str
    text: str


InboxItem = ShopperMessage | AgentMessage


class SlackThread(BaseModel):
    team_id: str
    channel: str
    thread_ts: str


class ConversationConfig(BaseModel):
    idle_close_seconds: float = Field(default=24 * 3600, gt=0)


class ConversationState(BaseModel):
    """Everything a run needs to continue; carried across continue-as-new. No transcript here."""

    status: ConversationStatus = "open"
    thread: SlackThread | None = None
    inbox: list[InboxItem] = Field(default_factory=list)
    undelivered: list[int] = Field(default_factory=list)
    last_activity: datetime | None = None


class ConversationInput(BaseModel):
    ref: ConversationRef
    config: ConversationConfig = Field(default_factory=ConversationConfig)
    # None on a fresh run (first message, or a new run after close): the run rehydrates from PostgreSQL.
    state: ConversationState | None = None


class CloseRequest(BaseModel):
    reason: str = "closed"


class ConversationOutcome(BaseModel):
    status: ConversationStatus
    reason: str


class Author(BaseModel):
    name: str
    avatar_url: str | None = None


class StoredMessage(BaseModel):
    """A transcript row as the widget sees it (docs/widget-protocol.md, "Message")."""

    conversation_id: UUID
    seq: int
    client_id: str | None
    direction: Direction
    author: Author
    body: str
    created_at: datetime
    status: MessageStatus


# Activity inputs and outputs: one model in, one model out.


class StoreShopperMessages(BaseModel):
    ref: ConversationRef
    messages: list[ShopperMessage]


class StoreAgentMessages(BaseModel):
    ref: ConversationRef
    messages: list[AgentMessage]


class StoredBatch(BaseModel):
    # Only rows that were new; a retried message that was already stored is not repeated.
    new: list[StoredMessage]
    # Seqs already stored (retries) that still wait for Slack.
    pending: list[int] = Field(default_factory=list)
    reopened: bool = False


class PostToSlack(BaseModel):
    ref: ConversationRef
    thread: SlackThread | None
    seqs: list[int]


class PostResult(BaseModel):
    thread: SlackThread | None
    delivered: list[int]
    undelivered: list[int]
    error: str | None = None


class LoadConversation(BaseModel):
    ref: ConversationRef


class SetStatus(BaseModel):
    ref: ConversationRef
    status: ConversationStatus
