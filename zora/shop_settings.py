"""What a merchant can set for their shop, with the defaults a new shop gets.

Stored as JSON in shops.settings and validated here on the way in and out: a key that is absent
takes its default, so older rows keep working as settings are added.
"""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zora.business_hours import WeeklyHours, validate_hours
from zora.errors import ZoraError

# When the assistant answers: before any agent; only when no agent is available (the shop is marked away
# or nobody can take it); only outside business hours; or it only drafts and an agent approves each reply.
AssistantMode = Literal["always_first", "no_agent_available", "outside_hours", "draft_only"]

# Steps (model calls) one shopper message may cost, at most: each one is billed and adds latency, and a
# model that keeps calling tools is stuck, not thorough.
MAX_ASSISTANT_STEPS = 10


class ShopSettingsError(ZoraError):
    """Settings a merchant gave that cannot be stored; the message names each bad field."""


class AssistantSettings(BaseModel):
    """The AI assistant of one shop (issue 12). Off until the merchant turns it on."""

    model_config = ConfigDict(extra="ignore")

    enabled: bool = False
    mode: AssistantMode = "no_agent_available"
    # The name shoppers see on its messages (always labelled as AI beside it).
    persona_name: str = Field(default="Assistant", min_length=1, max_length=40)
    # The merchant's own guidance (tone, what to avoid), added to the system prompt.
    instructions: str = Field(default="", max_length=4000)
    # Store policies and FAQ text: what the policies tool answers from, never anything else.
    policies: str = Field(default="", max_length=20000)
    max_steps: int = Field(default=4, ge=1, le=MAX_ASSISTANT_STEPS)
    # Daily budget (the shop's time zone): past either, the assistant hands over instead of answering.
    daily_turns: int = Field(default=500, ge=1, le=1_000_000)
    daily_tokens: int = Field(default=2_000_000, ge=1000, le=1_000_000_000)
    # The widget offers "Talk to a person" before the shopper's first message (ai-turns).
    offer_person_first: bool = False

    @field_validator("persona_name")
    @classmethod
    def _one_line_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        if any(ch in value for ch in "\r\n\t<>"):
            raise ValueError("must be one line of plain text (no line breaks, < or >)")
        return value


class ShopSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Agent replies that start with this stay in Slack (internal notes).
    note_prefix: str = Field(default=";;", min_length=1, max_length=10)
    # Nothing written in Slack reaches shoppers; threads only alert the team.
    alerts_only: bool = False
    # Shoppers see the brand instead of the agent's Slack name and picture.
    anonymous_replies: bool = False
    brand_name: str | None = Field(default=None, max_length=80)
    # The storefront widget: a pre-chat form for name and email ("off", "optional", "required"), and
    # the merchant's greeting per language ("en", "fr", "zh-CN", ...; "default" for any other).
    prechat: Literal["off", "optional", "required"] = "off"
    greetings: dict[str, str] = Field(default_factory=dict, max_length=20)

    # An unanswered conversation gets a reminder in its thread after this many minutes of open
    # time, and an escalation at twice that; 0 turns both off.
    reminder_minutes: float = Field(default=15, ge=0, le=7 * 24 * 60)
    # Who the reminder mentions: "here", "channel", or a user group id (S...).
    reminder_mention: str = Field(default="here", pattern=r"^(here|channel|S[A-Z0-9]+)$")
    timezone: str = "UTC"
    # Email the shopper the whole conversation when an agent resolves it (when their email is known).
    transcript_on_resolve: bool = False
    # "Nobody is here right now": the widget says so and asks for an email, as outside business hours.
    available: bool = True
    # Open hours per weekday in `timezone`; None means always open.
    business_hours: WeeklyHours | None = None
    # A conversation with no message for this long closes (None: the deployment's IDLE_CLOSE_HOURS).
    idle_close_hours: float | None = Field(default=None, gt=0)
    closing_message: str = Field(
        default="We closed this conversation after a while without messages. Write again any time.",
        max_length=1000,
    )

    # Automatic assignment: new conversations go round robin to these Slack users, skipping anyone
    # whose Slack presence is away or who already has `max_open_per_agent` open conversations; an
    # agent who does not answer within `answer_within_minutes` loses it to the next.
    auto_assign: bool = False
    assign_agents: list[str] = Field(default_factory=list, max_length=100)
    max_open_per_agent: int = Field(default=5, ge=1, le=1000)
    answer_within_minutes: float = Field(default=10, gt=0, le=24 * 60)

    # Who may act for the shop in Slack (search and edit its customers, press its buttons, see its
    # conversations): the members of its channel and, when set, of this Slack user group (S...).
    agents_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,20}$")

    # The AI assistant (issue 12).
    assistant: AssistantSettings = Field(default_factory=AssistantSettings)

    @model_validator(mode="after")
    def _assistant_hours(self) -> ShopSettings:
        # "Outside business hours" means nothing without hours: the assistant would never answer.
        if self.assistant.enabled and self.assistant.mode == "outside_hours" and not self.business_hours:
            raise ValueError("assistant mode 'outside_hours' needs business_hours to be set")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: WeeklyHours | None) -> WeeklyHours | None:
        return None if value is None else validate_hours(value)

    def mention(self) -> str:
        if self.reminder_mention in ("here", "channel"):
            return f"<!{self.reminder_mention}>"
        return f"<!subteam^{self.reminder_mention}>"


def parse_settings(raw: Any) -> ShopSettings:
    """Settings from a shops.settings value (a dict, JSON text, or NULL)."""
    if raw is None:
        return ShopSettings()
    if isinstance(raw, str):
        return ShopSettings.model_validate_json(raw)
    return ShopSettings.model_validate(raw)


def check_settings(raw: Any) -> ShopSettings:
    """Settings a merchant (or the CLI) is about to store: ShopSettingsError with one part per bad field,
    named by its path (``assistant.max_steps: ...``), so nothing invalid is stored."""
    try:
        return parse_settings(raw)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "settings"
            parts.append(f"{where}: {err['msg']}")
        raise ShopSettingsError("invalid shop settings: " + "; ".join(parts)) from None
