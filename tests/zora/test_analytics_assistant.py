"""The analytics page's AI assistant figures (zora/store/assistant_metrics.py `range_totals` through
zora/analytics.report and its CSV) on a small Europe/Paris shop worked out by hand: conversations the
assistant took part in during the shop's local days, the ones its last turn resolved (confirmed, or no
shopper message in the 24 h after it), handovers by reason, turns, tokens and cost."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.zora.test_analytics_sql import RANGE, Shop, at, new_shop
from zora import db
from zora.analytics import report, to_csv
from zora.db import Pool
from zora.store.assistant_metrics import TurnOutcome, confirm_resolved, record_turn_outcome


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _turn(
    shop: Shop, conversation: object, when: datetime, outcome: TurnOutcome, reason: str | None = None
) -> None:
    assert await record_turn_outcome(
        shop.pool,
        turn_id=f"turn:{conversation}:{when.isoformat()}",
        shop_id=shop.id,
        conversation_id=conversation,  # type: ignore[arg-type]
        outcome=outcome,
        handover_reason=reason,
        prompt_tokens=100,
        completion_tokens=10,
        cost_usd=Decimal("0.0015"),
        at=when,
    )


async def _assistant_shop(pool: Pool) -> Shop:
    shop = await new_shop(pool, {"timezone": "Europe/Paris"})
    # Answered, and the shopper never wrote again: resolved once 24 h passed.
    quiet = await shop.conversation([(at(1, 10), "shopper", None, "Ann")])
    await _turn(shop, quiet, at(1, 10, 1), "answered")
    # Answered, but the shopper came back within 24 h: not resolved.
    back = await shop.conversation([(at(1, 9), "shopper", None, "Bo"), (at(1, 20), "shopper", None, "Bo")])
    await _turn(shop, back, at(1, 9, 1), "answered")
    # Answered at 00:30 Paris on the 2nd (still the 1st in UTC), then the shopper asked for a person.
    asked = await shop.conversation([(at(1, 23, 30), "shopper", None, "Cy"), (at(2, 1), "shopper", None, "Cy")])
    await _turn(shop, asked, at(2, 0, 30), "answered")
    await _turn(shop, asked, at(2, 1, 1), "handed_over", "shopper_asked")
    # Out of steps, then an answer the shopper said did not solve it.
    said_no = await shop.conversation([(at(2, 11), "shopper", None, "Di")])
    await _turn(shop, said_no, at(2, 11, 1), "out_of_steps")
    await _turn(shop, said_no, at(2, 12), "answered")
    await confirm_resolved(pool, shop.id, said_no, solved=False)
    # A failed turn: a handover too.
    failed = await shop.conversation([(at(2, 15), "shopper", None, "Ed")])
    await _turn(shop, failed, at(2, 15, 1), "failed")
    # Confirmed on the 3rd at 23:30 Paris; its handover on the 5th is after the range and does not count.
    confirmed = await shop.conversation([(at(3, 23), "shopper", None, "Fa")])
    await _turn(shop, confirmed, at(3, 23, 30), "answered")
    await confirm_resolved(pool, shop.id, confirmed, solved=True)
    await _turn(shop, confirmed, at(5, 10), "handed_over", "shopper_asked")
    # 00:30 Paris on the 4th (the 3rd in UTC) and 23:59 Paris on 30 November: outside the local range.
    late = await shop.conversation([(at(4, 0, 20), "shopper", None, "Gu")])
    await _turn(shop, late, at(4, 0, 30), "answered")
    early = await shop.conversation([(at(1, 0) - timedelta(minutes=2), "shopper", None, "Ha")])
    await _turn(shop, early, at(1, 0) - timedelta(minutes=1), "handed_over")
    # Another shop's turn in the range never counts.
    other = await new_shop(pool, {"timezone": "Europe/Paris"})
    theirs = await other.conversation([(at(1, 10), "shopper", None, "X")])
    await _turn(other, theirs, at(1, 10, 1), "answered")
    return shop


async def test_the_assistants_share_and_figures_for_the_shops_local_range(pool: Pool) -> None:
    shop = await _assistant_shop(pool)
    totals = (await report(pool, shop.id, RANGE))["totals"]
    assert {k: v for k, v in totals.items() if k.startswith("assistant_")} == {
        "assistant_conversations": 6,
        "assistant_resolved": 2,
        "assistant_resolved_share": 0.3333,
        "assistant_turns": 8,
        "assistant_handovers": {"failed": 1, "out_of_steps": 1, "shopper_asked": 1},
        "assistant_prompt_tokens": 800,
        "assistant_completion_tokens": 80,
        "assistant_cost_usd": "0.012000",
    }
    # One day alone: the conversation answered at 00:30 Paris on the 2nd belongs to the 2nd.
    day1 = (await report(pool, shop.id, {"from": "2026-12-01", "to": "2026-12-01"}))["totals"]
    assert (day1["assistant_conversations"], day1["assistant_resolved"], day1["assistant_turns"]) == (2, 1, 2)
    assert day1["assistant_resolved_share"] == 0.5 and day1["assistant_handovers"] == {}


async def test_the_totals_csv_carries_the_assistants_figures(pool: Pool) -> None:
    shop = await _assistant_shop(pool)
    (row,) = csv.DictReader(io.StringIO(to_csv(await report(pool, shop.id, RANGE), "totals")))
    assert row["assistant_conversations"] == "6" and row["assistant_resolved"] == "2"
    assert row["assistant_resolved_share"] == "0.3333" and row["assistant_turns"] == "8"
    assert row["assistant_handovers"] == "failed: 1; out_of_steps: 1; shopper_asked: 1"
    assert row["assistant_cost_usd"] == "0.012000" and row["assistant_prompt_tokens"] == "800"
