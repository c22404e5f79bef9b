"""The analytics page's figures (issue 11 §4), computed over the transcript.

A request names a shop, a half-open range of instants [start, end) and the shop's IANA time zone: days
and hours are the shop's local ones (`AT TIME ZONE`), so a conversation at 23:30 in Paris counts on
that Paris day although it is the next day in UTC. Durations are in seconds.

Each conversation carries its first shopper message and first human reply (and who wrote it), kept by
a trigger (migration 0027; the assistant's messages, author_id 'ai', are not a human reply). `prepare`
copies the range's conversations once into a temporary table with their local time, which the
figures then read; call everything inside one transaction (the table is dropped at its commit). Hours
of day and replies per agent count the messages sent in the range (an index-only scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from zora.db import Executor, Row

ASSISTANT_AUTHOR = "ai"
_FACTS = "zora_analytics_facts"
# A human agent's message (a reply in the thread, not the assistant's).
_HUMAN = f"m.direction = 'agent' AND m.author_id IS DISTINCT FROM '{ASSISTANT_AUTHOR}'"
_ANSWERED = "first_reply_at >= first_shopper_at"
_FIRST_RESPONSE = "extract(epoch FROM first_reply_at - first_shopper_at)"
_RESOLUTION = "extract(epoch FROM resolved_at - created_at)"


@dataclass(frozen=True)
class Range:
    shop_id: int
    start: datetime
    end: datetime
    timezone: str


async def prepare(conn: Executor, r: Range) -> None:
    await conn.execute(
        f"CREATE TEMPORARY TABLE {_FACTS} ON COMMIT DROP AS"
        " SELECT c.id, c.created_at, c.created_at AT TIME ZONE $4 AS local_at, c.resolved_at, c.assignee,"
        " sh.customer_id, c.first_shopper_at, c.first_reply_at, c.first_reply_by"
        " FROM conversations c JOIN shoppers sh ON sh.id = c.shopper_id"
        " WHERE c.shop_id = $1 AND c.created_at >= $2 AND c.created_at < $3",
        r.shop_id,
        r.start,
        r.end,
        r.timezone,
    )
    await conn.execute(f"ANALYZE {_FACTS}")


async def per_day(conn: Executor, r: Range) -> list[Row]:
    """Each local day of the range, days without conversations too: conversations started that day, and
    the first-response and resolution times of those conversations."""
    return await conn.fetch(
        "WITH days AS (SELECT d::date AS day FROM generate_series(($1 AT TIME ZONE $3)::date,"
        " (($2 AT TIME ZONE $3) - interval '1 microsecond')::date, interval '1 day') d),"
        f" f AS (SELECT local_at::date AS day, * FROM {_FACTS})"
        " SELECT days.day, count(f.id) AS conversations,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p90,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE resolved_at IS NOT NULL)"
        "  AS resolution_p50"
        " FROM days LEFT JOIN f ON f.day = days.day GROUP BY days.day ORDER BY days.day",
        r.start,
        r.end,
        r.timezone,
    )


async def totals(conn: Executor, opens: list[time | None], closes: list[time | None]) -> Row:
    """The range's totals. `opens`/`closes`: opening hours per ISO weekday (index 0 is Monday, None
    closed that day), both empty when the shop is always open (then nothing is outside hours)."""
    local = "local_at"
    weekday = f"extract(isodow FROM {local})::int"
    row = await conn.fetchrow(
        "SELECT count(*) AS conversations,"
        f" count(*) FILTER (WHERE {_ANSWERED}) AS answered,"
        " count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p90,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE resolved_at IS NOT NULL)"
        "  AS resolution_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE resolved_at IS NOT NULL)"
        "  AS resolution_p90,"
        " count(*) FILTER (WHERE cardinality($1::time[]) > 0 AND ("
        f"  ($1::time[])[{weekday}] IS NULL OR {local}::time < ($1::time[])[{weekday}]"
        f"  OR {local}::time >= ($2::time[])[{weekday}])) AS outside_hours"
        f" FROM {_FACTS}",
        opens,
        closes,
    )
    assert row is not None  # an aggregate answers one row
    return row


async def per_agent(conn: Executor) -> list[Row]:
    """Per agent (Slack user id) over the range's conversations: assigned to them, first responses they
    gave and the median of those, resolved while assigned to them."""
    return await conn.fetch(
        "WITH firsts AS (SELECT first_reply_by AS agent, count(*) AS first_responses,"
        f"  percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) AS first_response_p50"
        f"  FROM {_FACTS} WHERE {_ANSWERED} GROUP BY first_reply_by),"
        " assigned AS (SELECT assignee AS agent, count(*) AS assigned,"
        f"  count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved FROM {_FACTS}"
        "  WHERE assignee IS NOT NULL GROUP BY assignee)"
        " SELECT coalesce(f.agent, a.agent) AS agent, coalesce(a.assigned, 0) AS assigned,"
        " coalesce(f.first_responses, 0) AS first_responses, f.first_response_p50, coalesce(a.resolved, 0) AS resolved"
        " FROM firsts f FULL JOIN assigned a ON a.agent = f.agent",
    )


async def messages_by_hour(conn: Executor, r: Range) -> list[Row]:
    """Messages sent in the range by the shop's local hour of day (0-23) and direction. Counted per
    quarter hour of UTC first, each quarter then put in its local hour: a time zone conversion per quarter
    rather than per message (every zone's offset is a whole number of quarter hours). Index only."""
    return await conn.fetch(
        "SELECT extract(hour FROM to_timestamp(q.quarter * 900) AT TIME ZONE $4)::int AS hour, q.direction,"
        " sum(q.messages)::bigint AS messages FROM ("
        "  SELECT floor(date_part('epoch', m.created_at) / 900)::bigint AS quarter, m.direction, count(*) AS messages"
        "  FROM messages m WHERE m.shop_id = $1 AND m.created_at >= $2 AND m.created_at < $3 GROUP BY 1, 2"
        " ) q GROUP BY 1, 2",
        r.shop_id,
        r.start,
        r.end,
        r.timezone,
    )


async def replies_by_agent(conn: Executor, r: Range) -> list[Row]:
    """Replies each human agent sent in the range, and the name they last wrote under. Index only."""
    return await conn.fetch(
        "SELECT m.author_id AS agent, count(*) AS messages,"
        " (array_agg(m.author_name ORDER BY m.created_at DESC))[1] AS name"
        " FROM messages m WHERE m.shop_id = $1 AND m.created_at >= $2 AND m.created_at < $3"
        f" AND {_HUMAN} AND m.author_id IS NOT NULL GROUP BY m.author_id",
        r.shop_id,
        r.start,
        r.end,
    )


async def top_customers(conn: Executor, r: Range, limit: int) -> list[Row]:
    """Customers who chatted in the range, by their value score's inputs (zora/shopify/scores.py): how
    many of the shop's buyers spent no more than them (`at_or_below`) out of `buyers`. Valid orders only,
    as the card counts them."""
    return await conn.fetch(
        "WITH spend AS (SELECT shopify_customer_id, sum(current_total_price) AS spent FROM shopify_orders"
        "  WHERE shop_id = $1 AND deleted_at IS NULL AND cancelled_at IS NULL AND NOT test"
        "  AND coalesce(financial_status, '') NOT IN ('voided', 'refunded') AND shopify_customer_id IS NOT NULL"
        "  GROUP BY shopify_customer_id HAVING sum(current_total_price) > 0),"
        " ranked AS (SELECT shopify_customer_id, spent, count(*) OVER (ORDER BY spent) AS at_or_below,"
        "  count(*) OVER () AS buyers FROM spend),"
        f" chatted AS (SELECT customer_id, count(*) AS conversations FROM {_FACTS}"
        "  WHERE customer_id IS NOT NULL GROUP BY customer_id)"
        " SELECT c.id, c.name, c.email, ch.conversations, r.spent, r.at_or_below, r.buyers"
        " FROM chatted ch JOIN customers c ON c.id = ch.customer_id AND c.shop_id = $1 AND c.deleted_at IS NULL"
        " JOIN ranked r ON r.shopify_customer_id = c.shopify_customer_id"
        " ORDER BY r.at_or_below DESC, c.id LIMIT $2",
        r.shop_id,
        limit,
    )
