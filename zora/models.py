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


class Opened(BaseModel):
    """The conversation's first message, or a message that reopened it."""

    at: datetime


class AgentAction(BaseModel):
    """An agent's command from Slack (a button, or the first reply in an unassigned thread)."""

    user_id: str
    source: Literal["button", "reply"] = "button"


class Assignment(BaseModel):
    status: ConversationStatus
    assignee: str | None
    # The shop assigns new conversations by round robin (read when a run starts).
    auto_assign: bool = False
    # The shop emails the transcript on resolve (read when a run starts).
    transcript_on_resolve: bool = False
    # A person took the conversation from the assistant (read when a run starts).
    assistant_off: bool = False


class PostPendingToSlack(BaseModel):
    """Signal "deliver": shopper messages wait in PostgreSQL for a durable post to Slack (the fast path failed)."""

    reason: str
    # Slack's Retry-After when the fast path was rate limited: the first try waits that long.
    retry_after_seconds: float = Field(default=0.0, ge=0)


class SlackThread(BaseModel):
    team_id: str
    channel: str
    thread_ts: str


class ConversationConfig(BaseModel):
    idle_close_seconds: float = Field(default=24 * 3600, gt=0)


class ConversationState(BaseModel):
    """Everything a run needs to continue; carried across continue-as-new. No transcript here."""

    status: ConversationStatus = "open"
    assignee: str | None = None
    # Posts to Slack asked for and not yet done (the field keeps the name recorded histories carry).
    deliveries: list[PostPendingToSlack] = Field(default_factory=list)
    # Resolved in a shop that emails transcripts: the email is still to be sent.
    transcript_due: bool = False
    # An agent shared files in the thread: copy them for the shopper (activities/files.py).
    files_due: bool = False
    # The shop's choices, read from PostgreSQL when a fresh run starts and carried across
    # continue-as-new (a continued run does not read them again).
    auto_assign: bool = False
    transcript_on_resolve: bool = False
    # The assistant (issue 12, workflows/conversation_assistant.py): "answering" or "drafting" while it
    # holds the conversation; off for good once a person took over (kept in PostgreSQL too).
    assistant: str | None = None
    assistant_off: bool = False
    # The newest shopper message that waits for a turn, and the last one a turn was started for.
    turn_due: int | None = None
    last_turn_seq: int = 0
    # draft_only: the turn whose draft waits for an agent's Send or Discard.
    draft_turn: str | None = None


class SettingsChanged(BaseModel):
    """Signal: the merchant saved the shop's settings; the choices a run carries in its state."""

    auto_assign: bool
    transcript_on_resolve: bool


class FilesShared(BaseModel):
    """Signal: an agent shared files in the conversation's thread."""

    seq: int


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


class AgentPost(BaseModel):
    """An agent's message in a conversation's Slack thread, as Zora stores it."""

    author_id: str
    author: Author
    body: str
    channel: str
    ts: str
    at: datetime


FileState = Literal["pending", "ready", "failed"]


class FileInfo(BaseModel):
    """A file attached to a message (docs/widget-protocol.md, "Files")."""

    id: UUID
    name: str
    type: str
    size: int
    state: FileState
    # Relative to Zora's web process; only for a ready file.
    url: str | None = None


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
    edited_at: datetime | None = None
    deleted: bool = False
    files: list[FileInfo] = []
    # Written by the AI assistant (issue 12): the widget labels it as AI in the shopper's language.
    assistant: bool = False


# Activity inputs and outputs: one model in, one model out.


class PostToSlack(BaseModel):
    ref: ConversationRef


class PostResult(BaseModel):
    thread: SlackThread | None
    delivered: list[int]
    undelivered: list[int]
    # Being posted by someone else at this moment (the other of fast path and workflow).
    skipped: list[int] = Field(default_factory=list)
    error: str | None = None


class ApplyAssignment(BaseModel):
    ref: ConversationRef
    status: ConversationStatus
    assignee: str | None
    # Chosen by round robin, not by the agent: mention them, and start their answer clock.
    auto: bool = False
    # A line for the agents in the thread, explaining the change.
    note: str | None = None
    # A person takes the conversation from the assistant: recorded before the card is redrawn.
    assistant_off: bool = False


class PickAgent(BaseModel):
    ref: ConversationRef
    # The agent who just let the conversation go unanswered: try the others first.
    skip: str | None = None


class AgentPick(BaseModel):
    user_id: str | None


class LoadConversation(BaseModel):
    """What the run needs to know when it starts fresh: the status and the shop's choices."""

    ref: ConversationRef


class CopyAgentFiles(BaseModel):
    """The files agents shared in the thread and the shopper does not have yet (activities/files.py)."""

    ref: ConversationRef


class EmailTranscript(BaseModel):
    """The whole conversation to the shopper, on resolve (activities/email.py)."""

    ref: ConversationRef


class Tick(BaseModel):
    """The workflow's timer fired: close if idle, remind if unanswered, say when to wake next."""

    ref: ConversationRef
    # The deployment's default; a shop's own idle_close_hours wins.
    idle_seconds: float


class TickResult(BaseModel):
    closed: bool
    next_wake: datetime
    # An automatically assigned agent who did not answer in the shop's time.
    unanswered_assignee: str | None = None
    # The shop's choices as stored now, so a run catches up with a change whose signal it missed
    # (None: results recorded before the tick carried them, which change nothing on replay).
    auto_assign: bool | None = None
    transcript_on_resolve: bool | None = None


class SweepRequest(BaseModel):
    older_than_seconds: float = 60.0
    limit: int = 500


class SweepResult(BaseModel):
    handed_over: int
    # Conversations whose agents' files were still waiting to be copied.
    files_handed_over: int = 0
    # Shoppers' uploads that no message sent within a day, deleted.
    uploads_dropped: int = 0
    # Emailed link and confirmation codes a day past their expiry, deleted.
    codes_dropped: int = 0
    # Agent replies Slack never delivered, fetched from their threads (activities/backfill.py).
    replies_backfilled: int = 0


# Missed replies (workflows/missed_replies.py): agent replies a shopper has not seen, then one email.


def missed_replies_workflow_id(conversation_id: UUID) -> str:
    return f"deliver:{conversation_id}"


class MissedRepliesConfig(BaseModel):
    # How long unseen agent replies wait for the shopper to come back before one email goes out.
    email_after_seconds: float = Field(default=15 * 60, gt=0)


class PendingReplies(BaseModel):
    """Agent replies up to this seq may not have reached the shopper (signal)."""

    upto_seq: int = Field(ge=1)


class MissedRepliesInput(BaseModel):
    ref: ConversationRef
    config: MissedRepliesConfig = Field(default_factory=MissedRepliesConfig)
    # Carried across continue-as-new; 0 on a fresh run (the start signal brings the first value).
    upto_seq: int = 0
    emails_sent: int = 0


class MissedRepliesOutcome(BaseModel):
    # "nothing_unseen": the shopper came back (or everything went out before); "emailed": a digest
    # went out; "no_email": nobody to write to; "mail_disabled": no SMTP server configured.
    result: str
    emails_sent: int


class DigestRequest(BaseModel):
    ref: ConversationRef
    upto_seq: int


class DigestResult(BaseModel):
    result: str
    from_seq: int | None = None
    to_seq: int | None = None


# Agent replies Slack never delivered, fetched by the sweep (activities/backfill.py).


class BackfillRequest(BaseModel):
    """How much one run may read is set by the worker's settings, so nothing varies per run."""


class BackfillResult(BaseModel):
    # Threads read this run, conversations.replies calls made, replies stored that Zora had not heard of.
    conversations: int = 0
    calls: int = 0
    replies_stored: int = 0
    # Slack answered 429: the run stopped there, and runs until its Retry-After has passed read nothing.
    rate_limited: bool = False
    paused: bool = False
