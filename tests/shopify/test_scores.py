"""Analytics and scores at their edges (docs/scores.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from zora.shopify import scores as s

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def order(days_ago: float, amount: str, **kw: object) -> s.OrderFacts:
    return s.OrderFacts(processed_at=NOW - timedelta(days=days_ago), amount=Decimal(amount), **kw)  # type: ignore[arg-type]


def test_no_orders_is_all_zero() -> None:
    a = s.analytics([], NOW)
    assert (a.order_count, a.valid_order_count, a.total_spent, a.average_order_value) == (0, 0, 0, 0)
    assert a.days_since_last_order is None and a.purchase_interval_days is None and a.orders_per_year is None
    assert s.scores(a, 0, 0, s.shop_half_life(None)).model_dump() == {"value": 0, "loyalty": 0, "engagement": 0}


def test_only_cancelled_refunded_voided_or_test_orders_count_as_no_purchase() -> None:
    orders = [
        order(3, "50", cancelled=True),
        order(5, "80", financial_status="refunded"),
        order(6, "20", financial_status="voided"),
        order(7, "99", test=True),
    ]
    a = s.analytics(orders, NOW)
    assert (a.order_count, a.valid_order_count, a.cancelled_count, a.refunded_count) == (4, 0, 1, 2)
    assert a.total_spent == 0 and a.last_order_at is None and a.top_products == []
    assert s.scores(a, 0, 10, 90).model_dump() == {"value": 0, "loyalty": 0, "engagement": 0}


def test_partially_refunded_orders_count_with_what_is_left() -> None:
    a = s.analytics([order(1, "30.00", financial_status="partially_refunded")], NOW)
    assert a.valid_order_count == 1 and a.total_spent == Decimal("30.00")


def test_one_huge_order_tops_value_but_not_loyalty() -> None:
    a = s.analytics([order(0, "250000.00", items=[("Grand piano", 1)])], NOW)
    assert a.average_order_value == Decimal("250000.00") and a.top_products[0].title == "Grand piano"
    # Top spender of 40 buyers: 100, and never more however large the order.
    assert s.value_score(a.total_spent, 40, 40) == 100
    assert s.loyalty_score(a) == 0
    assert s.engagement_score(a, 90) == 100


def test_very_old_orders_fade_engagement_but_keep_loyalty() -> None:
    orders = [order(5 * 365 + d, "40", items=[("Tea", 2)]) for d in (0, 60, 120, 400, 800)]
    a = s.analytics(orders, NOW)
    assert a.days_since_last_order == 5 * 365 and a.valid_order_count == 5
    assert s.engagement_score(a, 90) == 0
    assert s.loyalty_score(a) == 100  # 4 repeats and more than a year between first and last
    assert a.top_products[0].model_dump() == {"title": "Tea", "quantity": 10}


def test_engagement_halves_every_half_life() -> None:
    a = s.analytics([order(90, "10")], NOW)
    assert s.engagement_score(a, 90) == 50
    assert s.engagement_score(a, 45) == 25


@pytest.mark.parametrize(("median", "half_life"), [(None, 90.0), (2.0, 14.0), (30.0, 30.0), (2000.0, 365.0)])
def test_half_life_is_the_shops_rhythm_within_bounds(median: float | None, half_life: float) -> None:
    assert s.shop_half_life(median) == half_life


@pytest.mark.parametrize(
    ("spent", "at_or_below", "buyers", "score"),
    [
        ("0", 0, 10, 0),
        ("10", 1, 0, 0),
        ("10", 1, 1, 100),
        ("10", 1, 4, 25),
        ("10", 2, 4, 50),
        ("10", 3, 4, 75),
        ("0.01", 1, 1000, 1),
    ],
)
def test_value_is_the_share_of_buyers_at_or_below(spent: str, at_or_below: int, buyers: int, score: int) -> None:
    assert s.value_score(Decimal(spent), at_or_below, buyers) == score


def test_frequency_and_averages() -> None:
    a = s.analytics([order(100, "10.00"), order(70, "20.00"), order(40, "30.01")], NOW)
    assert a.average_order_value == Decimal("20.00") and a.total_spent == Decimal("60.01")
    assert a.purchase_interval_days == 30.0 and a.days_since_last_order == 40
    assert a.orders_per_year == round(3 / 100 * 365, 2)
    assert s.loyalty_score(a) == round(100 * (0.7 * 2 / 4 + 0.3 * 60 / 365))


def test_a_brand_new_customer_is_not_52_orders_a_year() -> None:
    a = s.analytics([order(7, "10")], NOW)
    assert a.orders_per_year == round(1 / 30 * 365, 2)


def test_two_orders_give_an_interval_rounded_to_a_tenth_of_a_day() -> None:
    a = s.analytics([order(20.26, "10"), order(10, "10")], NOW)
    assert a.purchase_interval_days == 10.3
    # Day arithmetic is exact: 10,000 days apart is 10,000.0 days.
    assert s.analytics([order(10_010, "10"), order(10, "10")], NOW).purchase_interval_days == 10_000.0


def test_orders_per_year_counts_days_exactly() -> None:
    a = s.analytics([order(31, "1") for _ in range(100)], NOW)
    assert a.orders_per_year == round(100 / 31 * 365, 2)


def test_average_rounds_half_cents_up_and_the_currency_is_the_orders() -> None:
    a = s.analytics([order(2, "0.02", currency="EUR"), order(1, "0.03", currency="EUR")], NOW)
    assert a.average_order_value == Decimal("0.03") and a.currency == "EUR"


def test_only_the_top_five_products_are_listed() -> None:
    a = s.analytics([order(1, "10", items=[(f"P{i}", 10 - i) for i in range(7)])], NOW)
    assert [p.title for p in a.top_products] == ["P0", "P1", "P2", "P3", "P4"]


def test_scores_combines_the_three() -> None:
    a = s.analytics([order(90, "10"), order(45, "10")], NOW)
    assert s.scores(a, 3, 4, 45).model_dump() == {
        "value": 75,
        "loyalty": s.loyalty_score(a),
        "engagement": 50,
    }
    assert s.loyalty_score(a) == round(100 * (0.7 * 1 / 4 + 0.3 * 45 / 365))
