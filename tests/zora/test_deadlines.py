"""What a conversation's tick decides (zora/deadlines.py), case by case: plain data, no servers.

Times are seconds around T0, a Wednesday 10:00 UTC, unless given as "MM-DD HH:MM" in 2026 (UTC);
the deployment's idle time is one hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest

from zora.deadlines import TickSnapshot, plan_tick, reminder_text
from zora.shop_settings import ShopSettings

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
DEFAULT_IDLE = timedelta(hours=1)
ANA = "U0ANA00001"
WEEKDAYS = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS = {"business_hours": WEEKDAYS}
NEW_YORK = {"business_hours": WEEKDAYS, "timezone": "America/New_York"}


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def at(text: str) -> datetime:
    return datetime.fromisoformat("2026-" + text.replace(" ", "T")).replace(tzinfo=UTC)


def snapshot(now: datetime, **values: Any) -> TickSnapshot:
    row: dict[str, Any] = {
        "status": "open",
        "updated_at": now,  # just changed: not idle, unless a case says otherwise
        "reminder_level": 0,
        "reminder_for": None,
        "assignee": None,
        "auto_assigned_at": None,
        "assignee_replied_at": None,
        "waiting_since": None,
    }
    return TickSnapshot(**(row | values))


def waiting(since: datetime, posted: int = 0, posted_for: datetime | None = None) -> dict[str, Any]:
    """A shopper waiting since `since`; the level `posted` already posted for this wait (or `posted_for`)."""
    return {"waiting_since": since, "reminder_level": posted, "reminder_for": posted_for or (since if posted else None)}


def given(when: datetime, replied: datetime | None = None) -> dict[str, Any]:
    """Assigned to ANA automatically `when`; ANA's last reply `replied`."""
    return {"status": "assigned", "assignee": ANA, "auto_assigned_at": when, "assignee_replied_at": replied}


class Want(NamedTuple):
    next_wake: datetime
    reminder: int | None = None
    close_idle: bool = False
    unanswered: str | None = None


FRIDAY = waiting(at("11-27 16:50"))
NY = waiting(at("11-25 13:00"))  # 08:00 in New York, an hour before opening

# (case, shop settings, snapshot columns, now, what the plan must say)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], datetime, Want]] = [
    # A closed row is a reopen still being written: look again in a second, decide nothing.
    ("closed row", {}, {"status": "closed", "updated_at": s(-7200)} | waiting(s(-7200)), T0, Want(s(1))),
    # Idle close, at the deployment's idle time or the shop's own.
    ("idle to the second", {}, {"updated_at": s(-3600)}, T0, Want(T0, close_idle=True)),
    ("a second short of idle", {}, {"updated_at": s(-3599)}, T0, Want(s(1))),
    ("the shop's longer idle time wins", {"idle_close_hours": 2}, {"updated_at": s(-3600)}, T0, Want(s(60))),
    ("the shop's idle time reached", {"idle_close_hours": 2}, {"updated_at": s(-7200)}, T0, Want(T0, close_idle=True)),
    ("the shop's shorter idle time", {"idle_close_hours": 0.5}, {"updated_at": s(-1800)}, T0, Want(T0, None, True)),
    ("resolved: no poll", {}, {"status": "resolved", "updated_at": s(-600)}, T0, Want(s(3000))),
    # Reminders (15 minutes by default) and escalation (twice that), once per wait and level.
    ("nobody waiting", {}, {}, T0, Want(s(60))),
    # Nothing to remind of: looked at once a minute (reminders may be turned on), not every second.
    ("reminders off", {"reminder_minutes": 0}, waiting(s(-86400)), T0, Want(s(60))),
    (
        "reminders off, auto-assignment on: half the time to answer",
        {"reminder_minutes": 0, "auto_assign": True, "answer_within_minutes": 1},
        {},
        T0,
        Want(s(30)),
    ),
    (
        "the shorter of the two waits",
        {"reminder_minutes": 4, "auto_assign": True, "answer_within_minutes": 1},
        {},
        T0,
        Want(s(30)),
    ),
    ("before the reminder time", {}, waiting(s(-870)), T0, Want(s(30))),
    ("at the reminder time", {}, waiting(s(-900)), T0, Want(s(60), reminder=1)),
    ("just reminded: escalation next", {"reminder_minutes": 0.01}, waiting(s(-0.6)), T0, Want(s(0.6), reminder=1)),
    ("reminded: escalation next", {"reminder_minutes": 1}, waiting(s(-110), posted=1), T0, Want(s(10))),
    ("reminded of this wait already", {}, waiting(s(-1000), posted=1), T0, Want(s(60))),
    ("a second before the escalation", {"reminder_minutes": 1}, waiting(s(-119), posted=1), T0, Want(s(1))),
    ("at the escalation time", {}, waiting(s(-1800), posted=1), T0, Want(s(60), reminder=2)),
    ("straight to the escalation", {}, waiting(s(-7200)), T0, Want(s(60), reminder=2)),
    ("escalated: nothing more", {"reminder_minutes": 1}, waiting(s(-7200), posted=2), T0, Want(s(30))),
    # The shop's own escalation time (issue 11 §3): 45 minutes instead of twice 15.
    ("not yet at the shop's escalation", {"escalation_minutes": 45}, waiting(s(-1800), posted=1), T0, Want(s(60))),
    ("reminded: the shop's escalation next", {"escalation_minutes": 31}, waiting(s(-1830), posted=1), T0, Want(s(30))),
    ("at the shop's escalation", {"escalation_minutes": 45}, waiting(s(-2700), posted=1), T0, Want(s(60), reminder=2)),
    ("a level posted for an earlier wait", {}, waiting(s(-900), 2, s(-5000)), T0, Want(s(60), reminder=1)),
    # Only open minutes count: Friday 16:50 + 15 minutes is Monday 09:05 (weekdays 09:00-17:00).
    ("closed for the weekend", HOURS, FRIDAY, at("11-28 12:00"), Want(at("11-28 12:01"))),
    ("a second before Monday's reminder", HOURS, FRIDAY, at("11-30 09:04:59"), Want(at("11-30 09:05"))),
    ("Monday's reminder", HOURS, FRIDAY, at("11-30 09:05"), Want(at("11-30 09:06"), reminder=1)),
    ("Monday's escalation", HOURS, FRIDAY, at("11-30 09:20"), Want(at("11-30 09:21"), reminder=2)),
    ("in the shop's time zone", NEW_YORK, NY, at("11-25 14:14:30"), Want(at("11-25 14:15"))),
    ("reminded in the shop's time zone", NEW_YORK, NY, at("11-25 14:15"), Want(at("11-25 14:16"), reminder=1)),
    # An automatically assigned agent has 10 minutes (by default) to answer.
    ("answer time passed, to the second", {}, given(s(-600)), T0, Want(T0, unanswered=ANA)),
    ("a second left to answer", {}, given(s(-599)), T0, Want(s(1))),
    ("the shop's answer time", {"answer_within_minutes": 30}, given(s(-600)), T0, Want(s(60))),
    ("answered since", {}, given(s(-600), replied=s(-300)), T0, Want(s(60))),
    ("answered the same instant", {}, given(s(-600), replied=s(-600)), T0, Want(s(60))),
    ("replied only before being given it", {}, given(s(-600), replied=s(-601)), T0, Want(T0, unanswered=ANA)),
    ("claimed by hand", {}, {"status": "assigned", "assignee": ANA}, T0, Want(s(60))),
    ("no longer assigned", {}, {"auto_assigned_at": s(-600)}, T0, Want(s(60))),
    ("reminded and moved on", {}, given(s(-600)) | waiting(s(-900)), T0, Want(T0, reminder=1, unanswered=ANA)),
    ("idle and unanswered", {}, given(s(-600)) | {"updated_at": s(-3600)}, T0, Want(T0, None, True, ANA)),
    # An open or assigned conversation is looked at again within half a reminder time, 1 s to 60 s.
    ("poll at most a minute", {"reminder_minutes": 3}, {}, T0, Want(s(60))),
    ("poll at half the reminder time", {"reminder_minutes": 1}, {}, T0, Want(s(30))),
    ("poll at least a second", {"reminder_minutes": 0.01}, {}, T0, Want(s(1))),
    ("assigned polls too", {"reminder_minutes": 1}, {"status": "assigned", "assignee": ANA}, T0, Want(s(30))),
]


@pytest.mark.parametrize(("settings", "columns", "now", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_tick(settings: dict[str, Any], columns: dict[str, Any], now: datetime, want: Want) -> None:
    shop = ShopSettings(**settings)
    snap = snapshot(now, **columns)
    plan = plan_tick(snap, shop, now, DEFAULT_IDLE)
    level = None if plan.reminder is None else plan.reminder.level
    assert Want(plan.result.next_wake, level, plan.close_idle, plan.result.unanswered_assignee) == want
    assert plan.result.closed is False
    if plan.reminder is not None:
        assert snap.waiting_since is not None
        assert plan.reminder.waiting_since == snap.waiting_since
        assert plan.reminder.text == reminder_text(shop, plan.reminder.level, now - snap.waiting_since)


@pytest.mark.parametrize(("auto_assign", "transcript"), [(True, False), (False, True)])
def test_the_shops_choices_ride_along_except_for_a_closed_row(auto_assign: bool, transcript: bool) -> None:
    shop = ShopSettings(auto_assign=auto_assign, transcript_on_resolve=transcript)
    for columns in ({}, given(s(-600))):
        result = plan_tick(snapshot(T0, **columns), shop, T0, DEFAULT_IDLE).result
        assert (result.auto_assign, result.transcript_on_resolve) == (auto_assign, transcript)
    closed = plan_tick(snapshot(T0, status="closed"), shop, T0, DEFAULT_IDLE).result
    assert (closed.auto_assign, closed.transcript_on_resolve) == (None, None)


WAITED = ":hourglass_flowing_sand: {} this shopper has waited {} min for a reply."
NO_REPLY = ":rotating_light: {} still no reply after {} min: please answer this shopper."


@pytest.mark.parametrize(
    ("mention", "level", "waited", "text"),
    [
        ("here", 1, 900, WAITED.format("<!here>", 15)),
        ("channel", 1, 89, WAITED.format("<!channel>", 1)),
        ("S0SUPPORT", 1, 1.2, WAITED.format("<!subteam^S0SUPPORT>", 1)),
        ("here", 2, 91, NO_REPLY.format("<!here>", 2)),
        ("S0SUPPORT", 2, 1800, NO_REPLY.format("<!subteam^S0SUPPORT>", 30)),
    ],
)
def test_reminder_text(mention: str, level: int, waited: float, text: str) -> None:
    assert reminder_text(ShopSettings(reminder_mention=mention), level, timedelta(seconds=waited)) == text


def test_the_escalation_mentions_whom_the_shop_says() -> None:
    shop = ShopSettings(reminder_mention="here", escalation_mention="S0LEADS")
    assert reminder_text(shop, 1, timedelta(minutes=15)) == WAITED.format("<!here>", 15)
    assert reminder_text(shop, 2, timedelta(minutes=30)) == NO_REPLY.format("<!subteam^S0LEADS>", 30)
