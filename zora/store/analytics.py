"""The analytics page's figures (issue 11 §4), computed over the transcript.

A request names a shop, a half-open range of instants [start, end) and the shop's IANA time zone: days
and hours are the shop's local ones (`AT TIME ZONE`), so a conversation at 23:30 in Paris counts on
that Paris day although it is the next day in UTC. Durations are in seconds.

`prepare` computes the per-conversation facts (first shopper message, first human reply and who wrote
it) once into a temporary table, which every figure then reads: one pass over the range's messages, not
one per chart. Call everything inside one transaction (the table is dropped at its commit). Assistant
messages (author_id 'ai', the wave-3 seam) are not a human first response.
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
_RESOLUTION = "extract(epoch FROM closed_at - created_at)"


@dataclass(frozen=True)
class Range:
    shop_id: int
    start: datetime
    end: datetime
    timezone: str


async def prepare(conn: Executor, r: Range) -> None:
    await conn.execute(
        f"CREATE TEMPORARY TABLE {_FACTS} ON COMMIT DROP AS"
        " SELECT c.id, c.created_at, c.closed_at, c.assignee, sh.customer_id,"
        " f.first_shopper_at, f.first_reply_at, f.first_reply_by"
        " FROM conversations c JOIN shoppers sh ON sh.id = c.shopper_id"
        " LEFT JOIN LATERAL (SELECT"
        "  min(m.created_at) FILTER (WHERE m.direction = 'shopper') AS first_shopper_at,"
        f"  min(m.created_at) FILTER (WHERE {_HUMAN}) AS first_reply_at,"
        f"  (array_agg(m.author_id ORDER BY m.seq) FILTER (WHERE {_HUMAN}))[1] AS first_reply_by"
        "  FROM messages m WHERE m.conversation_id = c.id AND m.deleted_at IS NULL) f ON true"
        " WHERE c.shop_id = $1 AND c.created_at >= $2 AND c.created_at < $3",
        r.shop_id,
        r.start,
        r.end,
    )
    await conn.execute(f"ANALYZE {_FACTS}")


async def per_day(conn: Executor, r: Range) -> list[Row]:
    """Each local day of the range, days without conversations too: conversations started that day, and
    the first-response and resolution times of those conversations."""
    return await conn.fetch(
        "WITH days AS (SELECT d::date AS day FROM generate_series(($1 AT TIME ZONE $3)::date,"
        " (($2 AT TIME ZONE $3) - interval '1 microsecond')::date, interval '1 day') d),"
        f" f AS (SELECT (created_at AT TIME ZONE $3)::date AS day, * FROM {_FACTS})"
        " SELECT days.day, count(f.id) AS conversations,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p90,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE closed_at IS NOT NULL)"
        "  AS resolution_p50"
        " FROM days LEFT JOIN f ON f.day = days.day GROUP BY days.day ORDER BY days.day",
        r.start,
        r.end,
        r.timezone,
    )


async def totals(conn: Executor, r: Range, opens: list[time | None], closes: list[time | None]) -> Row:
    """The range's totals. `opens`/`closes`: opening hours per ISO weekday (index 0 is Monday, None
    closed that day), both empty when the shop is always open (then nothing is outside hours)."""
    local = "(created_at AT TIME ZONE $1)"
    weekday = f"extract(isodow FROM {local})::int"
    row = await conn.fetchrow(
        "SELECT count(*) AS conversations,"
        f" count(*) FILTER (WHERE {_ANSWERED}) AS answered,"
        " count(*) FILTER (WHERE closed_at IS NOT NULL) AS resolved,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) FILTER (WHERE {_ANSWERED})"
        "  AS first_response_p90,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE closed_at IS NOT NULL)"
        "  AS resolution_p50,"
        f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {_RESOLUTION}) FILTER (WHERE closed_at IS NOT NULL)"
        "  AS resolution_p90,"
        " count(*) FILTER (WHERE cardinality($2::time[]) > 0 AND ("
        f"  ($2::time[])[{weekday}] IS NULL OR {local}::time < ($2::time[])[{weekday}]"
        f"  OR {local}::time >= ($3::time[])[{weekday}])) AS outside_hours"
        f" FROM {_FACTS}",
        r.timezone,
        opens,
        closes,
    )
    assert row is not None  # an aggregate answers one row
    return row


async def by_agent(conn: Executor, limit: int) -> list[Row]:
    """Per human agent (Slack user id): replies and conversations replied in, first responses given and
    their median, conversations resolved while assigned to them; most replies first."""
    return await conn.fetch(
        "WITH replies AS (SELECT m.author_id AS agent, count(*) AS replies,"
        "  count(DISTINCT m.conversation_id) AS conversations,"
        "  (array_agg(m.author_name ORDER BY m.created_at DESC))[1] AS name"
        f"  FROM messages m JOIN {_FACTS} f ON f.id = m.conversation_id"
        f"  WHERE {_HUMAN} AND m.deleted_at IS NULL AND m.author_id IS NOT NULL GROUP BY m.author_id),"
        " firsts AS (SELECT first_reply_by AS agent, count(*) AS first_responses,"
        f"  percentile_cont(0.5) WITHIN GROUP (ORDER BY {_FIRST_RESPONSE}) AS first_response_p50"
        f"  FROM {_FACTS} WHERE {_ANSWERED} GROUP BY first_reply_by),"
        " resolved AS (SELECT assignee AS agent, count(*) AS resolved"
        f"  FROM {_FACTS} WHERE closed_at IS NOT NULL AND assignee IS NOT NULL GROUP BY assignee),"
        " agents AS (SELECT agent FROM replies UNION SELECT agent FROM resolved)"
        " SELECT a.agent, r.name, coalesce(r.replies, 0) AS replies, coalesce(r.conversations, 0) AS conversations,"
        " coalesce(fi.first_responses, 0) AS first_responses, fi.first_response_p50,"
        " coalesce(rs.resolved, 0) AS resolved"
        " FROM agents a LEFT JOIN replies r ON r.agent = a.agent LEFT JOIN firsts fi ON fi.agent = a.agent"
        " LEFT JOIN resolved rs ON rs.agent = a.agent"
        " ORDER BY coalesce(r.replies, 0) DESC, a.agent LIMIT $1",
        limit,
    )


async def by_hour(conn: Executor, r: Range) -> list[Row]:
    """Messages of the range's conversations by the shop's local hour of day (0-23, every hour listed)."""
    return await conn.fetch(
        "SELECT h.hour, count(x.direction) FILTER (WHERE x.direction = 'shopper') AS shopper,"
        " count(x.direction) FILTER (WHERE x.direction = 'agent') AS agent"
        " FROM generate_series(0, 23) AS h(hour) LEFT JOIN ("
        "  SELECT extract(hour FROM m.created_at AT TIME ZONE $1)::int AS hour, m.direction"
        f"  FROM messages m JOIN {_FACTS} f ON f.id = m.conversation_id WHERE m.deleted_at IS NULL"
        " ) x ON x.hour = h.hour GROUP BY h.hour ORDER BY h.hour",
        r.timezone,
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
