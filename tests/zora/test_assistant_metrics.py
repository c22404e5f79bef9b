"""The assistant's numbers per shop over a range (issue 12 §8) on real PostgreSQL: involvement, resolution
(confirmed, or assumed after 24 h of the shopper's silence), handovers by reason, tokens and cost. The
analytics page's figures over a shop's local days: tests/zora/test_analytics_assistant.py."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from zora import db
from zora.store import assistant_metrics as metrics


@pytest.fixture
async def pool(infra: Any, database_url: str) -> AsyncIterator[Any]:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _shop(pool: Any) -> int:
    shop_id: int = await pool.fetchval(
        "INSERT INTO shops (domain, name) VALUES ($1, 'm') RETURNING id", f"m-{secrets.token_hex(4)}.myshopify.com"
    )
    return shop_id


async def _conversation(pool: Any, shop_id: int) -> uuid.UUID:
    shopper, conversation = uuid.uuid4(), uuid.uuid4()
    await pool.execute("INSERT INTO shoppers (id, shop_id) VALUES ($1, $2)", shopper, shop_id)
    await pool.execute(
        "INSERT INTO conversations (id, shop_id, shopper_id) VALUES ($1, $2, $3)", conversation, shop_id, shopper
    )
    return conversation


async def _shopper_wrote(pool: Any, shop_id: int, conversation: uuid.UUID, at: datetime) -> None:
    seq = await pool.fetchval("SELECT count(*) + 1 FROM messages WHERE conversation_id = $1", conversation)
    await pool.execute(
        "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_name, body, status, created_at)"
        " VALUES ($1, $2, $3, 'shopper', 'Shopper', 'again', 'stored', $4)",
        shop_id,
        conversation,
        seq,
        at,
    )


async def _turn(pool: Any, shop_id: int, conversation: uuid.UUID, at: datetime, **fields: Any) -> bool:
    return await metrics.record_turn_outcome(
        pool,
        turn_id=fields.pop("turn_id", f"turn:{conversation}:{secrets.token_hex(3)}"),
        shop_id=shop_id,
        conversation_id=conversation,
        outcome=fields.pop("outcome", "answered"),
        at=at,
        **fields,
    )


async def test_range_numbers(pool: Any) -> None:
    shop = await _shop(pool)
    other_shop = await _shop(pool)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    d1 = today - timedelta(days=3)
    c = [await _conversation(pool, shop) for _ in range(7)]
    # c0: answered, the shopper never came back: resolved.
    await _turn(pool, shop, c[0], d1 + timedelta(hours=10), prompt_tokens=100, completion_tokens=20,
                cost_usd=Decimal("0.0012"), turn_id="t0")  # fmt: skip
    # c1: answered, and the shopper wrote again 4 h later: not resolved.
    await _turn(pool, shop, c[1], d1 + timedelta(hours=11), prompt_tokens=50, completion_tokens=10)
    await _shopper_wrote(pool, shop, c[1], d1 + timedelta(hours=15))
    # c2: two turns, the last handed over (the shopper asked for a person): not resolved.
    await _turn(pool, shop, c[2], d1 + timedelta(hours=12))
    await _turn(pool, shop, c[2], d1 + timedelta(hours=13), outcome="handed_over", handover_reason="shopper_asked")
    # c3: handed over without a reason; c4: answered, came back only two days later: resolved.
    await _turn(pool, shop, c[3], d1 + timedelta(hours=14), outcome="handed_over")
    await _turn(pool, shop, c[4], d1 + timedelta(hours=9))
    await _shopper_wrote(pool, shop, c[4], d1 + timedelta(days=2))
    # c5: today, answered minutes ago: too early to assume; c6: today, confirmed by the shopper.
    now = datetime.now(UTC)
    await _turn(pool, shop, c[5], max(now - timedelta(minutes=2), today))
    await _turn(pool, shop, c[6], max(now - timedelta(minutes=1), today), turn_id="t6")
    await metrics.confirm_resolved(pool, shop, c[6], True)

    # A retried writer counts once; a conversation of another shop is not recorded under this one.
    assert not await _turn(pool, shop, c[0], d1 + timedelta(hours=10), turn_id="t0", prompt_tokens=100)
    assert not await _turn(pool, other_shop, c[0], d1, turn_id="elsewhere")

    day = timedelta(days=1)
    first = await metrics.range_totals(pool, shop, d1, d1 + day)
    assert (first.involved, first.resolved, first.turns) == (5, 2, 6)
    assert first.handovers == {"shopper_asked": 1, "unspecified": 1}
    assert (first.prompt_tokens, first.completion_tokens, first.cost_usd) == (150, 30, Decimal("0.0012"))
    last = await metrics.range_totals(pool, shop, today, today + day)
    assert (last.involved, last.resolved, last.turns, last.handovers) == (2, 1, 2, {})
    # Nothing on the days between.
    assert (await metrics.range_totals(pool, shop, d1 + day, today)).turns == 0
    # The whole range: each conversation once, its tokens summed.
    whole = await metrics.range_totals(pool, shop, d1, today + day)
    assert (whole.involved, whole.resolved, whole.turns, whole.prompt_tokens) == (7, 3, 8, 150)
    assert await metrics.range_totals(pool, other_shop, d1, today + day) == metrics.AssistantTotals(
        involved=0, resolved=0, turns=0, prompt_tokens=0, completion_tokens=0, cost_usd=Decimal(0)
    )


async def test_a_shopper_who_said_no_is_not_resolved(pool: Any) -> None:
    shop = await _shop(pool)
    conversation = await _conversation(pool, shop)
    long_ago = datetime.now(UTC) - timedelta(days=5)
    await _turn(pool, shop, conversation, long_ago)
    await metrics.confirm_resolved(pool, shop, conversation, False)
    totals = await metrics.range_totals(pool, shop, long_ago - timedelta(days=1), datetime.now(UTC))
    assert (totals.involved, totals.resolved) == (1, 0)
