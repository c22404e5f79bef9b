"""What the assistant did, per shop and day (issue 12 §8): the numbers of the merchant's analytics page.

Writers call `record_turn_outcome` once a turn's outcome is known (the turn's delivery, a handover the
shopper asked for); it keeps one row per turn id, so a retried activity counts once. Readers call
`daily`, which sums those rows per day (UTC) and works out resolution at read time:

- involvement: conversations the assistant took part in that day (at least one recorded turn);
- resolved: of those, the ones whose last assistant turn (up to that day's end) answered and whose
  shopper either confirmed it or did not write again within 24 h of it (not counted until 24 h passed);
- handovers by reason: turns that ended with a person taking over, by the reason given;
- tokens and cost: sums over the day's turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from zora.db import Executor

TurnOutcome = Literal["answered", "handed_over", "out_of_steps", "failed", "cancelled"]
# How long a shopper's silence after an answer takes to count as "that solved it".
RESOLVED_AFTER_HOURS = 24


async def record_turn_outcome(
    conn: Executor,
    *,
    turn_id: str,
    shop_id: int,
    conversation_id: UUID,
    outcome: TurnOutcome,
    handover_reason: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: Decimal = Decimal(0),
    at: datetime | None = None,
) -> bool:
    """Record a turn's outcome; False when this turn id was recorded before (nothing changes). The
    conversation must be the shop's: a mismatched pair records nothing and returns False."""
    inserted = await conn.fetchval(
        "INSERT INTO assistant_turn_outcomes (turn_id, shop_id, conversation_id, outcome, handover_reason,"
        " prompt_tokens, completion_tokens, cost_usd, at)"
        " SELECT $1, c.shop_id, c.id, $4, $5, $6, $7, $8, COALESCE($9, now()) FROM conversations c"
        " WHERE c.id = $3 AND c.shop_id = $2"
        " ON CONFLICT (turn_id) DO NOTHING RETURNING turn_id",
        turn_id,
        shop_id,
        conversation_id,
        outcome,
        handover_reason,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        at,
    )
    return inserted is not None


async def confirm_resolved(conn: Executor, shop_id: int, conversation_id: UUID, solved: bool) -> None:
    """The shopper's answer to "did that solve it?", on the conversation's latest turn."""
    await conn.execute(
        "UPDATE assistant_turn_outcomes SET confirmed = $3 WHERE turn_id = (SELECT turn_id FROM"
        " assistant_turn_outcomes WHERE shop_id = $1 AND conversation_id = $2 ORDER BY at DESC LIMIT 1)",
        shop_id,
        conversation_id,
        solved,
    )


@dataclass(frozen=True)
class AssistantDay:
    day: date
    involved: int
    resolved: int
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    handovers: dict[str, int] = field(default_factory=dict)


# A conversation's last turn `lt` resolved it: it answered, and the shopper confirmed that or wrote nothing
# in the 24 h after it (and those 24 h are over); a "no" is never resolved.
_RESOLVED = f"""lt.outcome = 'answered' AND lt.confirmed IS DISTINCT FROM false AND (lt.confirmed OR (
    lt.at < now() - interval '{RESOLVED_AFTER_HOURS} hours' AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.conversation_id = lt.conversation_id AND m.shop_id = $1
        AND m.direction = 'shopper' AND m.created_at > lt.at
        AND m.created_at <= lt.at + interval '{RESOLVED_AFTER_HOURS} hours')))"""

# Per day: the day's turns (sums), and per conversation involved that day its last turn up to the end of
# that day, resolved when it answered and either the shopper confirmed it or wrote nothing in the 24 h
# after it (and those 24 h are over). Handovers without a reason count under 'unspecified'.
DAILY_SQL = f"""
WITH turns AS (
    SELECT t.*, (t.at AT TIME ZONE 'UTC')::date AS day FROM assistant_turn_outcomes t
    WHERE t.shop_id = $1 AND t.at >= ($2::date::timestamp AT TIME ZONE 'UTC')
    AND t.at < (($3::date + 1)::timestamp AT TIME ZONE 'UTC')
),
involved AS (
    SELECT DISTINCT day, conversation_id FROM turns
),
last_turn AS (
    SELECT i.day, i.conversation_id, l.outcome, l.confirmed, l.at FROM involved i
    CROSS JOIN LATERAL (
        SELECT o.outcome, o.confirmed, o.at FROM assistant_turn_outcomes o
        WHERE o.shop_id = $1 AND o.conversation_id = i.conversation_id AND o.at < ((i.day + 1)::timestamp AT TIME ZONE 'UTC')
        ORDER BY o.at DESC LIMIT 1
    ) l
),
resolved AS (
    SELECT lt.day, count(*) AS n FROM last_turn lt WHERE {_RESOLVED} GROUP BY lt.day
),
handovers AS (
    SELECT day, jsonb_object_agg(reason, n) AS by_reason FROM (
        SELECT day, COALESCE(handover_reason, 'unspecified') AS reason, count(*) AS n FROM turns
        WHERE outcome = 'handed_over' GROUP BY 1, 2) h
    GROUP BY day
)
SELECT t.day, count(DISTINCT t.conversation_id) AS involved, COALESCE(max(r.n), 0) AS resolved,
    count(*) AS turns, COALESCE(sum(t.prompt_tokens), 0) AS prompt_tokens,
    COALESCE(sum(t.completion_tokens), 0) AS completion_tokens, COALESCE(sum(t.cost_usd), 0) AS cost_usd,
    COALESCE(max(h.by_reason::text), '{{}}')::jsonb AS handovers
FROM turns t LEFT JOIN resolved r ON r.day = t.day LEFT JOIN handovers h ON h.day = t.day
GROUP BY t.day ORDER BY t.day
"""


async def daily(conn: Executor, shop_id: int, since: date, until: date) -> list[AssistantDay]:
    """The shop's days from `since` to `until` (inclusive, UTC) on which the assistant took a turn."""
    rows = await conn.fetch(DAILY_SQL, shop_id, since, until)
    return [
        AssistantDay(
            day=r["day"],
            involved=int(r["involved"]),
            resolved=int(r["resolved"]),
            turns=int(r["turns"]),
            prompt_tokens=int(r["prompt_tokens"]),
            completion_tokens=int(r["completion_tokens"]),
            cost_usd=Decimal(r["cost_usd"]),
            handovers={str(k): int(v) for k, v in dict(r["handovers"] or {}).items()},
        )
        for r in rows
    ]


@dataclass(frozen=True)
class AssistantTotals:
    """A range's figures (the analytics page's summary): each conversation counts once however many of
    the range's days it had turns on."""

    involved: int
    resolved: int
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    handovers: dict[str, int] = field(default_factory=dict)


# The range's turns; per conversation involved, its last turn before the range's end; handovers are the
# turns after which people took over: those that handed over (by their reason), ran out of steps or failed
# (by that outcome: a failure's reason is an error text, no category for a merchant).
RANGE_SQL = f"""
WITH turns AS (
    SELECT * FROM assistant_turn_outcomes WHERE shop_id = $1 AND at >= $2 AND at < $3
),
last_turn AS (
    SELECT DISTINCT ON (o.conversation_id) o.conversation_id, o.outcome, o.confirmed, o.at
    FROM assistant_turn_outcomes o
    WHERE o.shop_id = $1 AND o.at < $3 AND o.conversation_id IN (SELECT conversation_id FROM turns)
    ORDER BY o.conversation_id, o.at DESC
),
handovers AS (
    SELECT CASE WHEN outcome = 'handed_over' THEN COALESCE(handover_reason, 'unspecified') ELSE outcome END
        AS reason, count(*) AS n
    FROM turns WHERE outcome IN ('handed_over', 'out_of_steps', 'failed') GROUP BY 1
)
SELECT count(DISTINCT t.conversation_id) AS involved,
    (SELECT count(*) FROM last_turn lt WHERE {_RESOLVED}) AS resolved,
    count(t.turn_id) AS turns, COALESCE(sum(t.prompt_tokens), 0) AS prompt_tokens,
    COALESCE(sum(t.completion_tokens), 0) AS completion_tokens, COALESCE(sum(t.cost_usd), 0) AS cost_usd,
    (SELECT COALESCE(jsonb_object_agg(reason, n), '{{}}'::jsonb) FROM handovers) AS handovers
FROM turns t
"""


async def range_totals(conn: Executor, shop_id: int, start: datetime, end: datetime) -> AssistantTotals:
    """The shop's figures over the instants [start, end) (the caller turns the shop's local days into
    instants): conversations with a turn in the range, of those the ones resolved by their last turn
    before `end`, the range's turns, handovers, tokens and cost."""
    r = await conn.fetchrow(RANGE_SQL, shop_id, start, end)
    assert r is not None  # an aggregate answers one row
    return AssistantTotals(
        involved=int(r["involved"]),
        resolved=int(r["resolved"]),
        turns=int(r["turns"]),
        prompt_tokens=int(r["prompt_tokens"]),
        completion_tokens=int(r["completion_tokens"]),
        cost_usd=Decimal(r["cost_usd"]),
        handovers={str(k): int(v) for k, v in sorted(dict(r["handovers"] or {}).items())},
    )
