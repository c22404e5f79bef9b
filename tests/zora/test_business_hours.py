from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zora.business_hours import add_business_time, is_open, validate_hours

WEEKDAYS = {d: ("09:00", "17:00") for d in ("mon", "tue", "wed", "thu", "fri")}
T = timedelta(minutes=15)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_no_hours_means_always_open() -> None:
    assert add_business_time(at("2026-11-28T03:00"), T, None, "UTC") == at("2026-11-28T03:15")


def test_inside_hours_is_plain_addition() -> None:
    assert add_business_time(at("2026-11-25T10:00"), T, WEEKDAYS, "UTC") == at("2026-11-25T10:15")


def test_before_opening_counts_from_opening() -> None:
    assert add_business_time(at("2026-11-25T06:00"), T, WEEKDAYS, "UTC") == at("2026-11-25T09:15")


def test_spills_over_closing_into_the_next_open_day() -> None:
    # Friday 16:50 + 15 open minutes = 10 minutes Friday, 5 minutes on Monday.
    assert add_business_time(at("2026-11-27T16:50"), T, WEEKDAYS, "UTC") == at("2026-11-30T09:05")


def test_weekend_waits_for_monday() -> None:
    assert add_business_time(at("2026-11-28T12:00"), T, WEEKDAYS, "UTC") == at("2026-11-30T09:15")


def test_time_zone_of_the_shop() -> None:
    # 13:00 UTC is 08:00 in New York (before opening): the clock starts at 09:00 local = 14:00 UTC.
    got = add_business_time(at("2026-11-25T13:00"), T, WEEKDAYS, "America/New_York")
    assert got == at("2026-11-25T14:15")


def test_daylight_saving_change_is_respected() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: 09:00 local is 07:00 UTC before, 08:00 UTC after.
    got = add_business_time(at("2026-10-24T20:00"), T, {"mon": ("09:00", "17:00")}, "Europe/Berlin")
    assert got == at("2026-10-26T08:15")


def test_invalid_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="before closing"):
        validate_hours({"mon": ("17:00", "09:00")})
    with pytest.raises(ValueError, match="unknown day 'monday'; use mon, tue, wed, thu, fri, sat, sun"):
        validate_hours({"monday": ("09:00", "17:00")})


def test_open_now() -> None:
    assert is_open(at("2026-11-28T03:00"), None, "UTC")
    assert is_open(at("2026-11-25T09:00"), WEEKDAYS, "UTC") and not is_open(at("2026-11-25T17:00"), WEEKDAYS, "UTC")
    assert not is_open(at("2026-11-28T12:00"), WEEKDAYS, "UTC"), "Saturday"
    # 14:30 UTC is 09:30 in New York: open there, though not yet at 08:59 local.
    assert is_open(at("2026-11-25T14:30"), WEEKDAYS, "America/New_York")
    assert not is_open(at("2026-11-25T13:59"), WEEKDAYS, "America/New_York")


def test_time_that_ends_exactly_at_closing_is_that_day() -> None:
    # Friday 16:45 + 15 open minutes is Friday 17:00: the last open minutes count on the day itself.
    assert add_business_time(at("2026-11-27T16:45"), T, WEEKDAYS, "UTC") == at("2026-11-27T17:00")
    # The same with a start before opening: 09:00 + 8 h (a whole day) ends at that day's closing.
    whole_day = timedelta(hours=8)
    assert add_business_time(at("2026-11-25T06:00"), whole_day, WEEKDAYS, "UTC") == at("2026-11-25T17:00")


def test_starting_at_closing_time_counts_from_the_next_opening() -> None:
    assert add_business_time(at("2026-11-25T17:00"), T, WEEKDAYS, "UTC") == at("2026-11-26T09:15")


def test_a_day_that_opens_and_closes_at_the_same_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="before closing"):
        validate_hours({"mon": ("09:00", "09:00")})
    assert validate_hours({"mon": ("09:00", "09:01")}) == {"mon": ("09:00", "09:01")}


def test_a_day_that_opens_at_midnight() -> None:
    # The next day is entered at 00:00 sharp: hours from midnight are counted from their first minute.
    night = {"tue": ("00:00", "01:00")}
    assert add_business_time(at("2026-11-23T23:50"), T, night, "UTC") == at("2026-11-24T00:15")
