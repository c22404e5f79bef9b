"""What a conversation's timer decides: close it when idle, remind the channel of a shopper waiting for
a reply and escalate when the wait goes on, take the conversation from an automatically assigned agent
who did not answer in time, and when to look again.

Pure: the conversation comes in as a snapshot (the `tick` activity reads it in one query), with the
shop's settings and the database's clock; the activity carries the plan out. Reminder times count only
the shop's open hours (zora/business_hours.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from zora.business_hours import add_business_time
from zora.models import TickResult
from zora.shop_settings import ShopSettings

# Reminder levels, as stored in conversations.reminder_level.
NONE, REMINDED, ESCALATED = 0, 1, 2

# Only the workflow closes a conversation, so a closed row is a reopen still being written.
REOPEN_RETRY = timedelta(seconds=1)
# A shopper may start a new wait at any moment without waking the workflow: an open conversation is
# looked at again within half a reminder time, bounded both ways.
POLL_MIN = timedelta(seconds=1)
POLL_MAX = timedelta(seconds=60)


class TickSnapshot(BaseModel):
    """The conversation as the tick reads it (other columns of the row are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: str
    # The last change of any kind: the idle time counts from it, and the close is conditional on it.
    updated_at: datetime
    # The reminder level already posted, and for which wait (its `waiting_since`).
    reminder_level: int
    reminder_for: datetime | None
    assignee: str | None
    # When the assignee was given the conversation automatically; None when claimed by hand.
    auto_assigned_at: datetime | None
    # The assignee's last reply.
    assignee_replied_at: datetime | None
    # The first shopper message after the last agent reply that reached Slack: the current wait.
    waiting_since: datetime | None


class Reminder(BaseModel):
    """A message for the thread, posted once per wait and level."""

    level: int
    # The wait it is about; stored with the level so the next tick does not post it again.
    waiting_since: datetime
    text: str


class TickPlan(BaseModel):
    # Close the conversation now, unless it changed since the snapshot (then carry on with the rest).
    close_idle: bool = False
    reminder: Reminder | None = None
    # The answer to the workflow when the conversation stays open.
    result: TickResult


def plan_tick(snapshot: TickSnapshot, settings: ShopSettings, now: datetime, default_idle: timedelta) -> TickPlan:
    """`now` is the database's clock (the snapshot's times are too); `default_idle` is the deployment's
    idle time, used when the shop has none of its own."""
    if snapshot.status == "closed":
        return TickPlan(result=TickResult(closed=False, next_wake=now + REOPEN_RETRY))
    idle = timedelta(hours=settings.idle_close_hours) if settings.idle_close_hours else default_idle
    idle_at = snapshot.updated_at + idle
    wakes = [idle_at]
    reminder, remind_again_at = _reminder(snapshot, settings, now)
    if remind_again_at is not None:
        wakes.append(remind_again_at)
    close_idle = now >= idle_at
    answer_by = _answer_by(snapshot, settings)
    if answer_by is not None:
        if now >= answer_by:
            return TickPlan(
                close_idle=close_idle, reminder=reminder, result=_result(settings, now, unanswered=snapshot.assignee)
            )
        wakes.append(answer_by)
    if snapshot.status in ("open", "assigned"):
        wakes.append(now + _poll(settings))
    return TickPlan(close_idle=close_idle, reminder=reminder, result=_result(settings, min(wakes)))


def _poll(settings: ShopSettings) -> timedelta:
    """Half the shortest wait a new event could start unseen (a shopper's message: a reminder; an
    automatic assignment: the time to answer). With neither on, the longest poll, which still picks
    up a change of settings (it was every second: one activity a second per open conversation)."""
    waits = [settings.reminder_minutes] if settings.reminder_minutes > 0 else []
    if settings.auto_assign:
        waits.append(settings.answer_within_minutes)
    if not waits:
        return POLL_MAX
    return min(POLL_MAX, max(POLL_MIN, timedelta(minutes=min(waits)) / 2))


def _result(settings: ShopSettings, next_wake: datetime, unanswered: str | None = None) -> TickResult:
    # The shop's choices ride along, so a run catches up with a change whose signal it missed.
    return TickResult(
        closed=False,
        next_wake=next_wake,
        unanswered_assignee=unanswered,
        auto_assign=settings.auto_assign,
        transcript_on_resolve=settings.transcript_on_resolve,
    )


def _reminder(snapshot: TickSnapshot, settings: ShopSettings, now: datetime) -> tuple[Reminder | None, datetime | None]:
    """The reminder to post now, if any, and when the next level falls due."""
    waiting_since = snapshot.waiting_since
    if waiting_since is None or settings.reminder_minutes <= 0:
        return None, None
    # A level stored for an earlier wait (the shopper was answered, then wrote again) does not count.
    posted = snapshot.reminder_level if snapshot.reminder_for == waiting_since else NONE
    step = timedelta(minutes=settings.reminder_minutes)
    remind_at = add_business_time(waiting_since, step, settings.business_hours, settings.timezone)
    escalate_step = timedelta(minutes=settings.escalation_after())
    escalate_at = add_business_time(waiting_since, escalate_step, settings.business_hours, settings.timezone)
    due = ESCALATED if now >= escalate_at else REMINDED if now >= remind_at else NONE
    reminder = None
    if due > posted:
        reminder = Reminder(
            level=due, waiting_since=waiting_since, text=reminder_text(settings, due, now - waiting_since)
        )
        posted = due
    if posted == NONE:
        return reminder, remind_at
    if posted == REMINDED:
        return reminder, escalate_at
    return reminder, None


def _answer_by(snapshot: TickSnapshot, settings: ShopSettings) -> datetime | None:
    """When an automatically assigned agent who has not answered since loses the conversation."""
    given = snapshot.auto_assigned_at
    if snapshot.status != "assigned" or given is None:
        return None
    replied = snapshot.assignee_replied_at
    if replied is not None and replied >= given:
        return None
    return given + timedelta(minutes=settings.answer_within_minutes)


def reminder_text(settings: ShopSettings, level: int, waited: timedelta) -> str:
    minutes = max(1, round(waited.total_seconds() / 60))
    if level >= ESCALATED:
        return f":rotating_light: {settings.mention(escalated=True)} still no reply after {minutes} min: please answer this shopper."
    return f":hourglass_flowing_sand: {settings.mention()} this shopper has waited {minutes} min for a reply."
