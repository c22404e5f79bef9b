"""The widget's socket events in both directions (docs/widget-protocol.md, section 2).

Client -> server events are validated here before anything reads them; server -> client events are
built here and pushed with zora.push.push, so the wire format has one definition that the web
process, the Slack listeners and the workers share.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from zora.addresses import parse_address
from zora.files import MAX_FILES_PER_MESSAGE
from zora.models import FileInfo, StoredMessage

# Client -> server.

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ResumeEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    since_seq: int = Field(default=0, ge=0)


class MessageEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    client_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    body: str = Field(max_length=4000)
    # Ids of this shopper's uploads (POST /widget/files) that the message sends.
    files: list[Annotated[str, Field(pattern=_UUID)]] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE)
    # Where the shopper is: the storefront page and the widget's language (shown on the Slack card).
    page: str | None = Field(default=None, max_length=2048, pattern=r"^https?://[^\s]+$")
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")

    @model_validator(mode="after")
    def _not_blank(self) -> MessageEvent:
        if not self.body.strip() and not self.files:
            raise ValueError("body: must not be empty or only spaces (unless files are sent)")
        return self


class ReceiptEvent(BaseModel):
    """`delivered` / `seen`: every agent message up to `upto_seq` reached / was shown to the shopper."""

    model_config = ConfigDict(extra="forbid", strict=True)
    upto_seq: int = Field(ge=1, le=2**31 - 1)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ProfileEvent(BaseModel):
    """The pre-chat form: who the shopper says they are, so replies can follow by email."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    # The widget's language, so the address-confirmation email is written in it.
    locale: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value or None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # The one strict parser (one mailbox, no header tricks): this address becomes an email's To.
        return parse_address(value)


class AskForPersonEvent(BaseModel):
    """`ask_for_person`: the shopper wants a person instead of the assistant (issue 12 §5 §6)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # Optional words of the shopper's, shown to the team in the handover note (escaped there).
    reason: str = Field(default="", max_length=300)

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(_CONTROL.sub(" ", value).split())


# Server -> client. Each payload names its conversation: the widget ignores events of another one.


class ShopperEvent(BaseModel):
    """An event for the widgets in a conversation's room; `EVENT` is its socket.io event name."""

    EVENT: ClassVar[str]
    conversation_id: UUID

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class NewMessage(ShopperEvent):
    """`message`: a Message (StoredMessage) as it is, shopper's or agent's."""

    EVENT = "message"
    message: StoredMessage

    @classmethod
    def of(cls, message: StoredMessage) -> NewMessage:
        return cls(conversation_id=message.conversation_id, message=message)

    def payload(self) -> dict[str, Any]:
        return self.message.model_dump(mode="json")


class StatusChanged(ShopperEvent):
    """`status`: where a shopper's message is now (statuses only move forward in the widget)."""

    EVENT = "status"
    seq: int
    client_id: str | None
    status: Literal["delivered", "undelivered", "seen"]


class ReceiptChanged(ShopperEvent):
    """`receipt`: how far the shopper has received and seen agent messages (for their other tabs)."""

    EVENT = "receipt"
    delivered_upto: int
    seen_upto: int


class MessageUpdated(ShopperEvent):
    """`message_updated`: an agent edited a reply in Slack."""

    EVENT = "message_updated"
    seq: int
    body: str
    edited_at: datetime

    @field_serializer("edited_at")
    def _iso(self, value: datetime) -> str:
        # isoformat, as this event has always carried (+00:00, where a Message's times end in Z).
        return value.isoformat()


class MessageDeleted(ShopperEvent):
    """`message_deleted`: an agent deleted a reply in Slack."""

    EVENT = "message_deleted"
    seq: int


class MessageFiles(ShopperEvent):
    """`message_files`: the files of message `seq` are now these."""

    EVENT = "message_files"
    seq: int
    files: list[FileInfo]


# The assistant's answer while it is written (issue 12 §5). A turn's model calls each stream their text;
# an `assistant_delta` carries the piece at `offset` of the text of (`step`, `attempt`): a later step or
# a retried attempt starts again at offset 0, and the widget then drops what it showed of the earlier one.


class AssistantDelta(ShopperEvent):
    """`assistant_delta`: more of the assistant's answer for `turn` (the final `message` has client_id = turn)."""

    EVENT = "assistant_delta"
    turn: str
    step: int
    attempt: int
    offset: int
    text: str


class AssistantTyping(ShopperEvent):
    """`assistant_typing`: the assistant of `turn` is (or no longer is) writing."""

    EVENT = "assistant_typing"
    turn: str
    typing: bool
