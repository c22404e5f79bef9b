"""The customer's purchase analytics on the conversation's card (bot/customer_analytics.py via
bot/card.py): average order, rhythm and top products, escaped, and nothing for a customer who has
bought nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from bot.card import CardData, render
from bot.customer_analytics import analytics_fields
from zora.shop_settings import ShopSettings
from zora.shopify.models import CustomerAnalytics, TopProduct


def _analytics(valid: int, interval: float | None, products: list[TopProduct]) -> CustomerAnalytics:
    return CustomerAnalytics(
        order_count=valid,
        valid_order_count=valid,
        cancelled_count=0,
        refunded_count=0,
        total_spent=Decimal("90.00") * valid,
        average_order_value=Decimal("90.00") if valid else Decimal("0.00"),
        first_order_at=datetime(2026, 1, 1, tzinfo=UTC) if valid else None,
        last_order_at=datetime(2026, 3, 1, tzinfo=UTC) if valid else None,
        days_since_last_order=30 if valid else None,
        purchase_interval_days=interval,
        orders_per_year=6.0 if valid else None,
        top_products=products,
        currency="EUR" if valid else None,
    )


def _line(customer: dict[str, object]) -> str | None:
    card = CardData(uuid4(), "s.myshopify.com", "open", None, ShopSettings(), customer=customer)
    texts = [e["text"] for b in render(card)[1] if b["type"] == "context" for e in b["elements"]]
    return next((t for t in texts if t.startswith(":bar_chart:")), None)


def test_the_card_shows_average_order_rhythm_and_top_products() -> None:
    products = [TopProduct(title="<!channel> Tea", quantity=5), TopProduct(title="Mug & saucer", quantity=1)]
    assert _line(analytics_fields(_analytics(3, 29.5, products))) == (
        ":bar_chart: average order 90.00 EUR · buys every 29.5 days on average · "
        "top products: &lt;!channel&gt; Tea x5, Mug &amp; saucer x1"
    )


def test_one_purchase_and_no_purchase() -> None:
    assert (
        _line(analytics_fields(_analytics(1, None, []))) == ":bar_chart: average order 90.00 EUR · one purchase so far"
    )
    assert _line(analytics_fields(_analytics(0, None, []))) is None
