"""What the assistant did, per shop (issue 12 §8): the numbers of the merchant's analytics page.

Writers call `record_turn_outcome` once a turn's outcome is known (the turn's delivery, a handover the
shopper asked for); it keeps one row per turn id, so a retried activity counts once. The analytics page
calls `range_totals` over the instants of the shop's local days (zora/analytics.py), which sums those rows
and works out resolution at read time:

- involvement: conversations the assistant took part in during the range (at least one recorded turn);
- resolved: of those, the ones whose last assistant turn (up to the range's end) answered and whose
  shopper either confirmed it or did not write again within 24 h of it (not counted until 24 h passed);
- handovers: turns after which people took over, by the reason given (`handed_over`), or by the outcome
  (`out_of_steps`, `failed`);
- tokens and cost: sums over the range's turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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


# A conversation's last turn `lt` resolved it: it answered, and the shopper confirmed that or wrote nothing
# in the 24 h after it (and those 24 h are over); a "no" is never resolved.
_RESOLVED = f"""lt.outcome = 'answered' AND lt.confirmed IS DISTINCT FROM false AND (lt.confirmed OR (
    lt.at < now() - interval '{RESOLVED_AFTER_HOURS} hours' AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.conversation_id = lt.conversation_id AND m.shop_id = $1
        AND m.direction = 'shopper' AND m.created_at > lt.at
        AND m.created_at <= lt.at + interval '{RESOLVED_AFTER_HOURS} hours')))"""

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
