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
from zora.files import ALLOWED_TYPES as FILE_TYPES
from zora.shopper_texts import LANGUAGES, Words, match_language, pick_language, words
from zora.widget_look import WidgetLook

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
    # The widget offers "Talk to a person" before the assistant has answered (it always does after).
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


class ShopRateLimits(BaseModel):
    """A shop's own limits for its shoppers (zora/shop_limits.py): counted beside the deployment's, so they
    can only tighten them. None: only the deployment's limit."""

    model_config = ConfigDict(extra="forbid")

    messages_per_shopper_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    conversations_per_address_per_hour: int | None = Field(default=None, ge=1, le=100_000)
    uploads_per_conversation_per_10_minutes: int | None = Field(default=None, ge=1, le=100_000)


def _plain_line(value: str | None) -> str | None:
    """An email subject becomes a header: one line of text, nothing that could start another header."""
    if value is None:
        return None
    value = value.strip()
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise ValueError("must be one line (no line breaks or control characters)")
    return value or None


class LanguageTexts(BaseModel):
    """The merchant's own words for one language (or "default": any language without its own); a text
    left empty is Zora's built-in one in that language (zora/shopper_texts.py)."""

    model_config = ConfigDict(extra="forbid")

    greeting: str | None = Field(default=None, max_length=500)
    away: str | None = Field(default=None, max_length=500)
    closing: str | None = Field(default=None, max_length=1000)
    missed_subject: str | None = Field(default=None, max_length=150)
    missed_intro: str | None = Field(default=None, max_length=1000)
    transcript_subject: str | None = Field(default=None, max_length=150)
    transcript_intro: str | None = Field(default=None, max_length=1000)
    confirm_subject: str | None = Field(default=None, max_length=150)
    confirm_intro: str | None = Field(default=None, max_length=1000)

    @field_validator("missed_subject", "transcript_subject", "confirm_subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        return _plain_line(value)

    @field_validator("greeting", "away", "closing", "missed_intro", "transcript_intro", "confirm_intro")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value if value is None or value.strip() else None


def _fold_older_texts(raw: dict[str, Any]) -> dict[str, Any]:
    """`greetings` and `closing_message` (before per-language texts) moved into `texts`, unless the same
    text is set there already. Anything malformed is left for the model to refuse, field by field."""
    greetings, closing = raw.get("greetings"), raw.get("closing_message")
    texts = raw.get("texts", {})
    if not (greetings or closing) or not isinstance(texts, dict) or not isinstance(greetings or {}, dict):
        return raw
    texts = {lang: dict(t) if isinstance(t, dict) else t for lang, t in texts.items()}
    moved = [
        ("default" if tag == "default" else match_language(str(tag)), "greeting", text)
        for tag, text in (greetings or {}).items()
    ]
    if closing:
        moved.append(("default", "closing", closing))
    for lang, key, text in moved:
        into = texts.setdefault(lang, {}) if lang is not None else None
        if isinstance(into, dict) and not into.get(key):
            into[key] = text
    return {k: v for k, v in raw.items() if k not in ("greetings", "closing_message")} | {"texts": texts}


class ShopSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The shop's languages, its main one first: shoppers whose language Zora does not speak get the first.
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1, max_length=len(LANGUAGES))
    # The merchant's words per language ("default": any language without its own).
    texts: dict[str, LanguageTexts] = Field(default_factory=dict)
    # The widget's look, which the theme app extension uses too (one place to set it).
    look: WidgetLook = Field(default_factory=WidgetLook)

    # Agent replies that start with this stay in Slack (internal notes).
    note_prefix: str = Field(default=";;", min_length=1, max_length=10)
    # Nothing written in Slack reaches shoppers; threads only alert the team.
    alerts_only: bool = False
    # Shoppers see the brand instead of the agent's Slack name and picture.
    anonymous_replies: bool = False
    brand_name: str | None = Field(default=None, max_length=80)
    # The storefront widget's pre-chat form for name and email ("off", "optional", "required").
    prechat: Literal["off", "optional", "required"] = "off"
    # Before per-language texts: the greeting per language and one closing message. Still accepted (older
    # rows, API callers) and moved into `texts` when read, so there is one place for each text.
    greetings: dict[str, str] = Field(default_factory=dict, max_length=20, exclude=True)

    # An unanswered conversation gets a reminder in its thread after this many minutes of open
    # time, and an escalation later (escalation_minutes); 0 turns both off.
    reminder_minutes: float = Field(default=15, ge=0, le=7 * 24 * 60)
    # Who the reminder mentions: "here", "channel", or a user group id (S...).
    reminder_mention: str = Field(default="here", pattern=r"^(here|channel|S[A-Z0-9]+)$")
    # The escalation: after this many minutes of open time (None: twice reminder_minutes), mentioning
    # these people (None: the reminder's).
    escalation_minutes: float | None = Field(default=None, gt=0, le=14 * 24 * 60)
    escalation_mention: str | None = Field(default=None, pattern=r"^(here|channel|S[A-Z0-9]+)$")
    timezone: str = "UTC"
    # Shoppers' uploads: at most this size (MB; never above the deployment's FILE_MAX_BYTES, None: that
    # limit) and only these types (None: every type Zora checks by its content).
    file_max_mb: float | None = Field(default=None, ge=0.1, le=100)
    file_types: list[str] | None = Field(default=None, min_length=1, max_length=len(FILE_TYPES))
    # Stricter limits for this shop's shoppers than the deployment's (never looser).
    rate_limits: ShopRateLimits = Field(default_factory=ShopRateLimits)
    # Replies a shopper has not seen wait this long for them to come back before one email goes out
    # (None: the deployment's OFFLINE_EMAIL_AFTER_MINUTES). At most a week: unseen replies must not rot.
    offline_email_minutes: float | None = Field(default=None, ge=1, le=7 * 24 * 60)
    # Email the shopper the whole conversation when an agent resolves it (when their email is known).
    transcript_on_resolve: bool = False
    # "Nobody is here right now": the widget says so and asks for an email, as outside business hours.
    available: bool = True
    # Open hours per weekday in `timezone`; None means always open.
    business_hours: WeeklyHours | None = None
    # A conversation with no message for this long closes (None: the deployment's IDLE_CLOSE_HOURS).
    idle_close_hours: float | None = Field(default=None, gt=0)
    closing_message: str | None = Field(default=None, max_length=1000, exclude=True)

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

    @model_validator(mode="before")
    @classmethod
    def _fold_older_texts(cls, raw: Any) -> Any:
        return _fold_older_texts(raw) if isinstance(raw, dict) else raw

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for lang in value:
            if lang not in LANGUAGES:
                raise ValueError(f"{lang!r} is not a language Zora speaks ({', '.join(LANGUAGES)})")
        if len(set(value)) != len(value):
            raise ValueError("each language only once")
        return value

    @field_validator("file_types")
    @classmethod
    def _file_types(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for kind in value:
            if kind not in FILE_TYPES:
                raise ValueError(f"{kind!r} is not a type Zora accepts ({', '.join(FILE_TYPES)})")
        if len(set(value)) != len(value):
            raise ValueError("each type only once")
        return value

    @field_validator("texts")
    @classmethod
    def _text_languages(cls, value: dict[str, LanguageTexts]) -> dict[str, LanguageTexts]:
        for lang in value:
            if lang != "default" and lang not in LANGUAGES:
                raise ValueError(f"{lang!r} is not a language Zora speaks ({', '.join(LANGUAGES)}) nor 'default'")
        # A language with nothing set is no override at all (the page sends every language it shows).
        return {lang: texts for lang, texts in value.items() if texts.model_dump(exclude_none=True)}

    def words_for(self, locale: str | None) -> Words:
        """The shopper-facing texts for a shopper's locale: this language's overrides, then the shop's
        "default" ones, then Zora's own in that language."""
        lang = pick_language(locale, self.languages)
        own = self.texts.get(lang, LanguageTexts()).model_dump()
        return words(lang, own, self.texts.get("default", LanguageTexts()).model_dump())

    def widget_texts(self, key: str) -> dict[str, str]:
        """One overridable text per language (and "default"), for the widget's config."""
        return {lang: text for lang, texts in self.texts.items() if (text := getattr(texts, key))}

    @model_validator(mode="after")
    def _escalation_after_reminder(self) -> ShopSettings:
        # An escalation before the reminder would skip it: the reminder's level is never posted.
        if (
            self.escalation_minutes is not None
            and self.reminder_minutes > 0
            and self.escalation_minutes <= self.reminder_minutes
        ):
            raise ValueError("escalation_minutes must be more than reminder_minutes")
        return self

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

    def mention(self, escalated: bool = False) -> str:
        who = (self.escalation_mention or self.reminder_mention) if escalated else self.reminder_mention
        if who in ("here", "channel"):
            return f"<!{who}>"
        return f"<!subteam^{who}>"

    def escalation_after(self) -> float:
        """Minutes of open time before an unanswered wait is escalated."""
        return self.escalation_minutes if self.escalation_minutes is not None else 2 * self.reminder_minutes


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
