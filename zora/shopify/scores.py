"""Customer analytics and the value, loyalty and engagement scores (0-100). Formulas: docs/scores.md.

Pure functions over a customer's orders and a few shop-wide figures, so they hold for any kind of shop
(a coffee subscription and a furniture store alike) and are tested at their edges without a database.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from zora.shopify.models import CustomerAnalytics, CustomerScores, TopProduct

# Orders that are not purchases: cancelled, voided or fully refunded, and test orders.
NOT_PURCHASED = frozenset({"voided", "refunded"})

# Loyalty: how much of the score repeat purchases carry; the rest is how long the relationship spans.
LOYALTY_ORDER_WEIGHT = 0.7
# Repeat purchases (orders after the first) at which the order part is full.
LOYALTY_FULL_REPEATS = 4
# Days between first and last purchase at which the tenure part is full.
LOYALTY_FULL_TENURE_DAYS = 365

# Engagement halves every `half-life` days without an order. The half-life is the shop's own median
# time between purchases, kept within these bounds; 90 days when the shop has no repeat buyers yet.
ENGAGEMENT_DEFAULT_HALF_LIFE_DAYS = 90.0
ENGAGEMENT_MIN_HALF_LIFE_DAYS = 14.0
ENGAGEMENT_MAX_HALF_LIFE_DAYS = 365.0

TOP_PRODUCTS = 5
_CENT = Decimal("0.01")


@dataclass
class OrderFacts:
    processed_at: datetime | None
    amount: Decimal
    financial_status: str | None = None
    cancelled: bool = False
    test: bool = False
    items: list[tuple[str, int]] = field(default_factory=list)
    currency: str | None = None

    @property
    def purchased(self) -> bool:
        return not self.cancelled and not self.test and (self.financial_status or "") not in NOT_PURCHASED


def analytics(orders: list[OrderFacts], now: datetime) -> CustomerAnalytics:
    valid = sorted((o for o in orders if o.purchased), key=lambda o: o.processed_at or now)
    total = sum((o.amount for o in valid), Decimal(0)).quantize(_CENT)
    dates = [o.processed_at for o in valid if o.processed_at is not None]
    first, last = (dates[0], dates[-1]) if dates else (None, None)
    interval = (last - first).total_seconds() / 86400 / (len(dates) - 1) if first and last and len(dates) > 1 else None
    span_days = (now - first).total_seconds() / 86400 if first else None
    per_year = None
    if span_days is not None:
        # A customer of one week with one order has not "ordered 52 times a year": span at least 30 days.
        per_year = round(len(dates) / max(span_days, 30.0) * 365, 2)
    products: Counter[str] = Counter()
    for o in valid:
        for title, quantity in o.items:
            products[title] += quantity
    return CustomerAnalytics(
        order_count=len(orders),
        valid_order_count=len(valid),
        cancelled_count=sum(1 for o in orders if o.cancelled),
        refunded_count=sum(1 for o in orders if not o.cancelled and (o.financial_status or "") in NOT_PURCHASED),
        total_spent=total,
        average_order_value=(total / len(valid)).quantize(_CENT, ROUND_HALF_UP) if valid else Decimal("0.00"),
        first_order_at=first,
        last_order_at=last,
        days_since_last_order=max(0, (now - last).days) if last else None,
        purchase_interval_days=round(interval, 1) if interval is not None else None,
        orders_per_year=per_year,
        top_products=[TopProduct(title=t, quantity=q) for t, q in products.most_common(TOP_PRODUCTS)],
        currency=next((o.currency for o in valid if o.currency), None),
    )


def value_score(total_spent: Decimal, at_or_below: int, buyers: int) -> int:
    """Share of the shop's buying customers who spent no more than this one (an empirical CDF).

    `buyers` is how many customers of the shop bought anything; `at_or_below` how many of them spent no
    more than `total_spent` (this customer included). The shop's top spender is 100 however large one
    order is; nothing bought is 0.
    """
    if total_spent <= 0 or buyers <= 0:
        return 0
    return min(100, max(1, round(100 * at_or_below / buyers)))


def loyalty_score(a: CustomerAnalytics) -> int:
    """Repeat purchases (70 %) and the span from first to last purchase (30 %)."""
    if a.valid_order_count == 0 or a.first_order_at is None or a.last_order_at is None:
        return 0
    repeats = min(a.valid_order_count - 1, LOYALTY_FULL_REPEATS) / LOYALTY_FULL_REPEATS
    span = (a.last_order_at - a.first_order_at).total_seconds() / 86400
    tenure = min(span, LOYALTY_FULL_TENURE_DAYS) / LOYALTY_FULL_TENURE_DAYS
    return round(100 * (LOYALTY_ORDER_WEIGHT * repeats + (1 - LOYALTY_ORDER_WEIGHT) * tenure))


def shop_half_life(median_interval_days: float | None) -> float:
    """The shop's median days between a customer's purchases, within the bounds above."""
    if median_interval_days is None:
        return ENGAGEMENT_DEFAULT_HALF_LIFE_DAYS
    return min(max(median_interval_days, ENGAGEMENT_MIN_HALF_LIFE_DAYS), ENGAGEMENT_MAX_HALF_LIFE_DAYS)


def engagement_score(a: CustomerAnalytics, half_life_days: float) -> int:
    """100 on the day of a purchase, halving every half-life without one; 0 with no purchase."""
    if a.days_since_last_order is None:
        return 0
    return round(100 * math.pow(0.5, a.days_since_last_order / half_life_days))


def scores(a: CustomerAnalytics, at_or_below: int, buyers: int, half_life_days: float) -> CustomerScores:
    return CustomerScores(
        value=value_score(a.total_spent, at_or_below, buyers),
        loyalty=loyalty_score(a),
        engagement=engagement_score(a, half_life_days),
    )
