"""Business-hours arithmetic for reminders: "15 minutes" means 15 minutes the shop is open.

Hours are per weekday in the shop's time zone, e.g. {"mon": ["09:00", "17:00"], ...}; a day that
is absent is closed; no hours at all means always open.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WeeklyHours = dict[str, tuple[str, str]]


def _parse(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def validate_hours(hours: WeeklyHours) -> WeeklyHours:
    for day, (start, end) in hours.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        if _parse(start) >= _parse(end):
            raise ValueError(f"{day}: opening {start} must be before closing {end}")
    return hours


def add_business_time(start: datetime, delta: timedelta, hours: WeeklyHours | None, tz: str) -> datetime:
    """The moment `delta` of open time has passed after `start` (an aware datetime)."""
    if not hours:
        return start + delta
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    remaining = delta
    # Walk day by day; a fortnight without opening hours means the hours are empty in practice.
    for _ in range(15):
        day = DAYS[local.weekday()]
        if day in hours:
            open_at = datetime.combine(local.date(), _parse(hours[day][0]), zone)
            close_at = datetime.combine(local.date(), _parse(hours[day][1]), zone)
            begin = max(local, open_at)
            if begin < close_at:
                available = close_at - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        next_day = datetime.combine(local.date() + timedelta(days=1), time(0, 0), zone)
        local = next_day
    return (local + remaining).astimezone(start.tzinfo)


def is_open(now: datetime, hours: WeeklyHours | None, tz: str) -> bool:
    """Whether the shop is open at `now` (no hours at all means always open)."""
    if not hours:
        return True
    local = now.astimezone(ZoneInfo(tz))
    day = DAYS[local.weekday()]
    if day not in hours:
        return False
    return _parse(hours[day][0]) <= local.time() < _parse(hours[day][1])
