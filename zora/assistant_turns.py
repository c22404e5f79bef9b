"""Models of the assistant inside a conversation (issue 12 §2 §6): the signals and updates the
conversation's workflow takes for it, and the inputs and results of the activities around a turn
(activities/assistant_turns.py). Workflows import this module: no I/O libraries here."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from zora.assistant import AGENT_NAME, AGENT_PREFIX, ChatMessage, TurnResult
from zora.models import ConversationRef

# Activity names (activities/calls.py declares them; the names Temporal records).
ASSISTANT_GATE = "assistant_gate"
ASSISTANT_TURN_CONTEXT = "assistant_turn_context"
ASSISTANT_SET_STATE = "assistant_set_state"
ASSISTANT_RECORD_TURN = "assistant_record_turn"
ASSISTANT_DELIVER = "assistant_deliver"
ASSISTANT_POST_DRAFT = "assistant_post_draft"
ASSISTANT_DISCARD_DRAFT = "assistant_discard_draft"
ASSISTANT_HAND_OVER = "assistant_hand_over"

# What the card says of the assistant: it answers shoppers, it drafts for agents, or a person has it.
AssistantState = Literal["answering", "drafting", "off"]
# The author id of the assistant's messages in `messages` (Slack user ids never look like this).
AI_AUTHOR_ID = "ai"


class ShopperWrote(BaseModel):
    """Signal: a shopper message is stored (sent only for shops whose assistant is on)."""

    seq: int = Field(ge=1)


class PersonAsked(BaseModel):
    """Signal: the shopper asked for a person (the widget's choice)."""

    reason: str = Field(default="", max_length=300)


class DraftDecision(BaseModel):
    """Update: an agent pressed Send or Discard on the assistant's draft (draft_only mode)."""

    user_id: str
    turn_id: str
    send: bool


class DraftDecided(BaseModel):
    turn_id: str
    sent: bool


class GateRequest(BaseModel):
    ref: ConversationRef


class GateResult(BaseModel):
    """The shop's assistant as it is set now, and what decides whether it answers this message."""

    enabled: bool
    mode: str = "no_agent_available"
    # The shop is not marked away.
    available: bool = True
    # Inside the shop's business hours (always, without hours), in its time zone.
    in_hours: bool = True
    # The deployment's OPENAI_TIMEOUT_SECONDS (the turn's model-call timeouts).
    llm_timeout_seconds: float = 60.0
    # When the shop's business hours start next (outside them only; None inside or without hours).
    opens_at: datetime | None = None


class TurnContextRequest(BaseModel):
    shop_id: int
    conversation_id: UUID
    # The shopper message the turn answers: the history ends with it.
    seq: int


class TurnContext(BaseModel):
    """A turn's conversation so far and the shop's choices, read when the turn starts."""

    history: list[ChatMessage]
    persona_name: str
    instructions: str
    max_steps: int
    # Why the assistant may not answer today (the shop's daily budget is spent), or None.
    over_budget: str | None = None


class AssistantStateChange(BaseModel):
    ref: ConversationRef
    # None: the hold ended without a person taking over (the conversation was resolved).
    state: AssistantState | None


class RecordTurn(BaseModel):
    """A finished (or cancelled) turn for the audit: `result` is None for a cancelled one."""

    ref: ConversationRef
    turn_id: str
    seq: int
    started_at: datetime
    result: TurnResult | None = None


class DeliverAnswer(BaseModel):
    """The turn's answer (stored with its audit row) to the shopper and the thread."""

    ref: ConversationRef
    turn_id: str
    # The agent who pressed Send on the draft (draft_only mode).
    approved_by: str | None = None


class PostDraft(BaseModel):
    ref: ConversationRef
    turn_id: str


class DiscardDraft(BaseModel):
    ref: ConversationRef
    turn_id: str
    user_id: str


class HandOver(BaseModel):
    ref: ConversationRef
    reason: str
    # The latest turn started: the widget may still show it writing (a model call that ended by asking
    # for hand_over, or was cancelled, never said it stopped).
    turn_id: str | None = None
    # Tell the shopper a person will join (a message from the assistant): the shopper did not press
    # the widget's "Talk to a person", which says it by itself.
    tell_shopper: bool = False


def history_message(direction: str, author_id: str | None, author_name: str | None, body: str) -> ChatMessage:
    """A transcript message as the model reads it: the shopper is the user, the assistant's own messages
    are its own, and a person's reply is an assistant message that says who wrote it (AGENT_NAME, and the
    text led by "Agent <name>:"), so the model does not take an agent's promise for its own."""
    if direction == "shopper":
        return ChatMessage(role="user", content=body)
    if author_id == AI_AUTHOR_ID:
        return ChatMessage(role="assistant", content=body)
    who = " ".join((author_name or "").split()) or "of the shop"
    return ChatMessage(role="assistant", name=AGENT_NAME, content=f"{AGENT_PREFIX}{who}: {body}")
