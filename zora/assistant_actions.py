"""Models of the assistant's drafted actions (issue 12 §3, §6) and suggested replies (§7).

Workflows import this module (as they do zora.assistant), so it stays free of I/O libraries.
"""

from __future__ import annotations

import re
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zora.assistant import ChatMessage, ToolRecord

ActionKind = Literal["cancel_order", "refund_request", "address_change"]
ActionStatus = Literal["pending", "approved", "denied", "expired", "executing", "done", "failed"]
FinalStatus = Literal["done", "failed", "denied", "expired"]

# Activity names (registered names: never rename one).
ACTION_POST = "assistant_action_post"
ACTION_EXECUTE = "assistant_action_execute"
ACTION_REPORT = "assistant_action_report"
SUGGEST_CONTEXT = "assistant_suggest_context"
SUGGEST_POST = "assistant_suggest_post"

_ORDER_NUMBER = re.compile(r"^\s*#?\s*(\d{1,12})\s*$")


def action_workflow_id(action_id: UUID) -> str:
    return f"action:{action_id}"


def suggest_workflow_id(conversation_id: UUID, nonce: str) -> str:
    return f"suggest:{conversation_id}:{nonce}"


class ShippingAddress(BaseModel):
    """A new shipping address as Shopify's MailingAddressInput takes it (the parts Zora asks for)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    address1: str = Field(min_length=1, max_length=255)
    address2: str | None = Field(default=None, max_length=255)
    city: str = Field(min_length=1, max_length=255)
    province_code: str | None = Field(default=None, max_length=10)
    zip: str = Field(min_length=1, max_length=20)
    country_code: str = Field(pattern=r"^[A-Za-z]{2}$")
    phone: str | None = Field(default=None, max_length=40)

    @field_validator("country_code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def mailing_address(self) -> dict[str, str]:
        """Shopify's MailingAddressInput field names."""
        names = {
            "first_name": "firstName",
            "last_name": "lastName",
            "address1": "address1",
            "address2": "address2",
            "city": "city",
            "province_code": "provinceCode",
            "zip": "zip",
            "country_code": "countryCode",
            "phone": "phone",
        }
        return {names[k]: v for k, v in self.model_dump().items() if v}

    def one_line(self) -> str:
        parts = [self.address1, self.address2, f"{self.zip} {self.city}", self.province_code, self.country_code]
        return ", ".join(p for p in parts if p)


class DraftActionArgs(BaseModel):
    """The model's `draft_action` arguments: what to do to which of the customer's orders. Whose order
    it is comes from the conversation, never from here."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: ActionKind
    order_number: str = Field(min_length=1, max_length=20)
    details: str | None = Field(default=None, max_length=1000)
    new_address: ShippingAddress | None = None

    @field_validator("order_number")
    @classmethod
    def _number(cls, value: str) -> str:
        if not _ORDER_NUMBER.match(value):
            raise ValueError("an order number looks like #1001")
        return value

    @model_validator(mode="after")
    def _complete(self) -> DraftActionArgs:
        if self.kind == "address_change" and self.new_address is None:
            raise ValueError("address_change needs new_address")
        if self.kind != "address_change" and self.new_address is not None:
            raise ValueError("new_address is only for address_change")
        if self.kind == "refund_request" and not self.details:
            raise ValueError("refund_request needs details: what is to be refunded and why")
        return self

    @property
    def number(self) -> int:
        match = _ORDER_NUMBER.match(self.order_number)
        assert match is not None
        return int(match.group(1))

    def request(self) -> dict[str, object]:
        """What is stored with the draft (and shown to the approving agent)."""
        stored: dict[str, object] = {}
        if self.details:
            stored["details"] = self.details
        if self.new_address is not None:
            stored["address"] = self.new_address.model_dump(exclude_none=True)
        return stored


class ActionInput(BaseModel):
    """ActionApprovalWorkflow `action:{id}`: the draft (its row), its scope, and how long it waits."""

    action_id: UUID
    shop_id: int
    conversation_id: UUID
    approval_timeout_seconds: float = Field(default=1800.0, gt=0)


class Decision(BaseModel):
    """An agent's Approve or Deny. `shop_id` is the shop the Slack listener found the user to be an agent
    of (bot/access.py): the workflow refuses a decision for any other shop."""

    user_id: str = Field(min_length=1)
    approve: bool
    shop_id: int


class DecisionResult(BaseModel):
    status: Literal["approved", "denied"]


class ActionStep(BaseModel):
    """An activity's input: which action, in which shop; the decision once there is one."""

    action_id: UUID
    shop_id: int
    status: Literal["approved", "denied", "expired"] | None = None
    decided_by: str | None = None


class ActionOutcome(BaseModel):
    status: FinalStatus
    # In words: what Shopify did, or why not.
    outcome: str = ""
    decided_by: str | None = None


# ------------------------------------------------------------------------------------------- §7


class SuggestInput(BaseModel):
    """SuggestReplyWorkflow `suggest:{conversation}:{nonce}`: a reply drafted for one agent."""

    shop_id: int
    conversation_id: UUID
    agent_id: str
    # Where the agent pressed the button: the ephemeral draft goes there.
    channel: str
    thread_ts: str | None = None
    max_steps: int = Field(default=3, ge=1, le=10)
    llm_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    model: str | None = None


class SuggestContext(BaseModel):
    """The conversation so far and the shop's assistant settings, loaded for a suggestion."""

    history: list[ChatMessage] = Field(default_factory=list)
    persona_name: str = "Assistant"
    instructions: str = ""


class SuggestDraft(BaseModel):
    input: SuggestInput
    # None: the model gave no usable draft (the agent is told so).
    text: str | None
    tools: list[ToolRecord] = Field(default_factory=list)
