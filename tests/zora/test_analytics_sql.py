"""The analytics figures (zora/store/analytics.py through zora/analytics.report) on a small shop whose
numbers are worked out by hand: local days in Europe/Paris (a conversation at 00:30 Paris time is on
the next day although it is still the previous day in UTC), percentiles, agents, hours, business
hours, and customers by value score. Another shop's conversations never count."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from zora import db
from zora.analytics import BadRange, parse_range, report, safe_cell, to_csv
from zora.db import Pool

PARIS = timezone(timedelta(hours=1))  # December: CET, no daylight saving
HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@dataclass
class Shop:
    pool: Pool
    id: int

    async def customer(self, shopify_id: int, name: str, *orders: tuple[str, bool]) -> int:
        """A customer with orders (amount, cancelled)."""
        cid: int = await self.pool.fetchval(
            "INSERT INTO customers (shop_id, shopify_customer_id, name, email) VALUES ($1, $2, $3, $4) RETURNING id",
            self.id,
            shopify_id,
            name,
            f"{shopify_id}@example.com",
        )
        for n, (amount, cancelled) in enumerate(orders):
            await self.pool.execute(
                "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name,"
                " current_total_price, cancelled_at, processed_at) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7)",
                self.id,
                shopify_id * 100 + n,
                shopify_id,
                f"#{shopify_id}{n}",
                amount,
                at(1, 9) if cancelled else None,
                at(1, 8),
            )
        return cid

    async def conversation(
        self,
        messages: list[tuple[datetime, str, str | None, str]],
        *,
        resolved: datetime | None = None,
        assignee: str | None = None,
        customer: int | None = None,
    ) -> uuid.UUID:
        """`messages`: (when, direction, author id, author name); the conversation starts at the first."""
        shopper, conversation = uuid.uuid4(), uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO shoppers (id, shop_id, customer_id) VALUES ($1, $2, $3)", shopper, self.id, customer
        )
        await self.pool.execute(
            "INSERT INTO conversations (id, shop_id, shopper_id, status, assignee, created_at, resolved_at, last_seq)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            conversation,
            self.id,
            shopper,
            "resolved" if resolved else "open",
            assignee,
            messages[0][0],
            resolved,
            len(messages),
        )
        for seq, (when, direction, author, name) in enumerate(messages, 1):
            await self.pool.execute(
                "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_id, author_name, body,"
                " status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'hi', 'delivered', $7)",
                self.id,
                conversation,
                seq,
                direction,
                author,
                name,
                when,
            )
        return conversation


async def new_shop(pool: Pool, settings: dict[str, Any]) -> Shop:
    domain = f"a-{uuid.uuid4().hex[:10]}.myshopify.com"
    shop_id = await pool.fetchval(
        "INSERT INTO shops (domain, name, settings) VALUES ($1, $1, $2::jsonb) RETURNING id",
        domain,
        json.dumps(settings),
    )
    return Shop(pool, shop_id)


@pytest.fixture
async def paris(pool: Pool) -> Shop:
    shop = await new_shop(pool, {"timezone": "Europe/Paris", "business_hours": HOURS})
    a = await shop.customer(1001, "Alice", ("100.00", False))
    b = await shop.customer(1002, "Bea", ("200.00", False), ("100.00", False), ("999.00", True))
    await shop.customer(1003, "Dan", ("50.00", False))
    # Tuesday 10:00, in hours: Ann answers in 2 minutes, Bob writes too; resolved an hour after it began.
    await shop.conversation(
        [
            (at(1, 10), "shopper", None, "Alice"),
            (at(1, 10, 2), "agent", "U1", "Ann"),
            (at(1, 10, 10), "agent", "U2", "Bob"),
        ],
        resolved=at(1, 11),
        assignee="U1",
        customer=a,
    )
    # Tuesday 23:30 Paris (22:30 UTC), outside hours: Bob answers in 10 minutes.
    await shop.conversation([(at(1, 23, 30), "shopper", None, "Guest"), (at(1, 23, 40), "agent", "U2", "Bob")])
    # Wednesday 00:30 Paris, still Tuesday in UTC: the assistant's message is not a first response; Ann's
    # an hour later is. Resolved after two hours.
    await shop.conversation(
        [
            (at(2, 0, 30), "shopper", None, "Bea"),
            (at(2, 0, 31), "agent", "ai", "Zora AI"),
            (at(2, 1, 30), "agent", "U1", "Ann"),
        ],
        resolved=at(2, 2, 30),
        assignee="U1",
        customer=b,
    )
    # Wednesday noon, never answered.
    await shop.conversation([(at(2, 12), "shopper", None, "Guest")])
    # Monday 23:59 Paris: before the range.
    await shop.conversation(
        [(at(1, 0) - timedelta(minutes=1), "shopper", None, "Early"), (at(1, 0), "agent", "U3", "Cy")]
    )
    # Another shop's conversation in the range never counts.
    other = await new_shop(pool, {"timezone": "Europe/Paris"})
    await other.conversation(
        [(at(1, 10), "shopper", None, "X"), (at(1, 10, 1), "agent", "U9", "Zed")], resolved=at(1, 12)
    )
    return shop


RANGE = {"from": "2026-12-01", "to": "2026-12-03"}


async def test_days_follow_the_shop_time_zone_with_percentiles_per_day(pool: Pool, paris: Shop) -> None:
    data = await report(pool, paris.id, RANGE)
    assert data["timezone"] == "Europe/Paris"
    assert data["days"] == [
        {"day": "2026-12-01", "conversations": 2, "first_response_p50": 360.0, "first_response_p90": 552.0,
         "resolution_p50": 3600.0},
        {"day": "2026-12-02", "conversations": 2, "first_response_p50": 3600.0, "first_response_p90": 3600.0,
         "resolution_p50": 7200.0},
        {"day": "2026-12-03", "conversations": 0, "first_response_p50": None, "first_response_p90": None,
         "resolution_p50": None},
    ]  # fmt: skip


async def test_totals_percentiles_and_outside_business_hours(pool: Pool, paris: Shop) -> None:
    totals = (await report(pool, paris.id, RANGE))["totals"]
    assert totals == {
        "conversations": 4,
        "answered": 3,
        "resolved": 2,
        "first_response_p50": 600.0,
        "first_response_p90": 3000.0,
        "resolution_p50": 5400.0,
        "resolution_p90": 6840.0,
        "outside_hours": 2,
        "outside_hours_share": 0.5,
        # No assistant turns in this shop: no share ("n/a"), zeros for what was counted.
        "assistant_conversations": 0,
        "assistant_resolved": 0,
        "assistant_resolved_share": None,
        "assistant_turns": 0,
        "assistant_handovers": {},
        "assistant_prompt_tokens": 0,
        "assistant_completion_tokens": 0,
        "assistant_cost_usd": "0",
    }


async def test_a_shop_without_business_hours_has_nothing_outside_them(pool: Pool) -> None:
    shop = await new_shop(pool, {"timezone": "UTC"})
    await shop.conversation([(at(1, 23, 30), "shopper", None, "Night owl")])
    totals = (await report(pool, shop.id, RANGE))["totals"]
    assert (totals["conversations"], totals["outside_hours"], totals["outside_hours_share"]) == (1, 0, 0.0)


async def test_agents_and_hours_of_day(pool: Pool, paris: Shop) -> None:
    data = await report(pool, paris.id, RANGE)
    assert data["agents"] == [
        {"agent": "U1", "name": "Ann", "replies": 2, "assigned": 2, "first_responses": 2,
         "first_response_p50": 1860.0, "resolved": 2},
        {"agent": "U2", "name": "Bob", "replies": 2, "assigned": 0, "first_responses": 1,
         "first_response_p50": 600.0, "resolved": 0},
        # Cy answered, at midnight, a conversation that began before the range: a reply sent in it.
        {"agent": "U3", "name": "Cy", "replies": 1, "assigned": 0, "first_responses": 0,
         "first_response_p50": None, "resolved": 0},
    ]  # fmt: skip
    hours = {h["hour"]: (h["shopper"], h["agent"]) for h in data["hours"] if h["shopper"] or h["agent"]}
    assert len(data["hours"]) == 24
    assert hours == {0: (1, 2), 1: (0, 1), 10: (1, 2), 12: (1, 0), 23: (1, 1)}


async def test_top_customers_by_value_score(pool: Pool, paris: Shop) -> None:
    customers = (await report(pool, paris.id, RANGE))["customers"]
    # Buyers: Dan 50, Alice 100, Bea 300 (her cancelled order does not count); Dan did not chat.
    assert [(c["name"], c["spent"], c["value_score"], c["conversations"]) for c in customers] == [
        ("Bea", "300.00", 100, 1),
        ("Alice", "100.00", 67, 1),
    ]


def test_ranges_are_checked() -> None:
    assert parse_range({}, "UTC", today=at(31, 12).date()) == (at(2, 0).date(), at(31, 0).date())
    for bad in (
        {"from": "2026-12-05", "to": "2026-12-01"},
        {"from": "yesterday"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ):
        with pytest.raises(BadRange):
            parse_range(bad, "UTC")


def test_csv_quotes_and_disarms_formulas() -> None:
    data = {
        "agents": [
            {"agent": "U1", "name": '=HYPERLINK("http://evil","x")', "replies": 2},
            {"agent": "U2", "name": 'Smith, "Jo"\nline', "replies": -1},
            {"agent": "U3", "name": "+1 -2 @me", "replies": 0},
            {"agent": "U4", "name": "@SUM(A1)", "replies": None},
            {"agent": "U5", "name": "-3", "replies": 0},
        ]
    }
    assert to_csv(data, "agents") == (
        "agent,name,replies\r\n"
        'U1,"\'=HYPERLINK(""http://evil"",""x"")",2\r\n'
        'U2,"Smith, ""Jo""\nline",-1\r\n'
        "U3,'+1 -2 @me,0\r\n"
        "U4,'@SUM(A1),\r\n"
        "U5,'-3,0\r\n"
    )
    assert safe_cell("\tx") == "'\tx" and safe_cell("fine") == "fine" and safe_cell(3) == 3


async def test_resolved_at_follows_the_status(pool: Pool) -> None:
    """Migration 0027's trigger: set on Resolve, kept when a resolved conversation closes, cleared when it
    is reopened; an idle close of an open conversation is not a resolution."""
    shop = await new_shop(pool, {})
    await shop.conversation([(at(1, 10), "shopper", None, "A")])
    await shop.conversation([(at(1, 10), "shopper", None, "B")])
    first, second = [
        r["id"] for r in await pool.fetch("SELECT id FROM conversations WHERE shop_id = $1 ORDER BY id", shop.id)
    ]

    async def resolved_at(cid: uuid.UUID) -> datetime | None:
        value: datetime | None = await pool.fetchval("SELECT resolved_at FROM conversations WHERE id = $1", cid)
        return value

    await pool.execute("UPDATE conversations SET status = 'resolved' WHERE id = $1", first)
    when = await resolved_at(first)
    assert when is not None
    await pool.execute("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1", first)
    await pool.execute("UPDATE conversations SET status = 'closed', closed_at = now() WHERE id = $1", first)
    assert await resolved_at(first) == when
    await pool.execute("UPDATE conversations SET status = 'open', closed_at = NULL WHERE id = $1", first)
    assert await resolved_at(first) is None
    await pool.execute("UPDATE conversations SET status = 'closed', closed_at = now() WHERE id = $1", second)
    assert await resolved_at(second) is None
