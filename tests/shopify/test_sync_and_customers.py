"""Install -> schedule + initial import, reconciliation healing lost webhooks, and the customer data agents see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import ScheduleOverlapPolicy

from tests.shopify.harness import ShopifyZora
from zora.shopify.customers import CustomerDirectory, CustomerNotFound
from zora.shopify.models import ReconcileInput, ReconcileResult, reconcile_schedule_id
from zora.shopify.records import gid_to_id
from zora.shopify.sync import PAGE_SIZE


def _domain() -> str:
    return f"s-{uuid.uuid4().hex[:10]}.myshopify.com"


def _seed(sz: ShopifyZora, shop: str) -> dict[str, Any]:
    st = sz.shopify
    mug = st.add_product(shop, "Enamel mug", "18.00", tags=["kitchen"])
    beans = st.add_product(shop, "Espresso beans 1kg", "32.50")
    maya = st.add_customer(shop, "Maya", "Lindqvist", "maya@example.com", phone="+1 (415) 555-0134", tags=["VIP"])
    omar = st.add_customer(shop, "Omar", "Haddad", "omar@example.com")
    mid = gid_to_id(mug["id"]) or 0
    bid = gid_to_id(beans["id"]) or 0
    maya_id = gid_to_id(maya["id"]) or 0
    first = st.add_order(shop, maya_id, [(bid, 2)], processed_at=datetime.now(UTC) - timedelta(days=40))
    second = st.add_order(shop, maya_id, [(mid, 1)], fulfillment="FULFILLED", tracking=("UPS", "1ZTRACK42"))
    st.add_order(shop, gid_to_id(omar["id"]), [(mid, 1)], financial="REFUNDED")
    return {"maya": maya, "omar": omar, "first": first, "second": second, "mug": mug}


async def _import(sz: ShopifyZora, shop: str) -> ReconcileResult:
    await sz.install(shop)
    handle = sz.zora.services.temporal.get_workflow_handle(f"shopify:import:{shop}", result_type=ReconcileResult)
    return await handle.result()


async def _reconcile(sz: ShopifyZora, shop: str) -> ReconcileResult:
    result: ReconcileResult = await sz.zora.services.temporal.execute_workflow(
        "ShopifyReconcileWorkflow",
        ReconcileInput(shop=shop),
        id=f"shopify:reconcile:{shop}:test-{uuid.uuid4().hex[:6]}",
        task_queue=sz.zora.settings.temporal_task_queue,
        result_type=ReconcileResult,
    )
    return result


async def test_install_creates_the_hourly_schedule_and_imports_everything(sz: ShopifyZora) -> None:
    shop = _domain()
    _seed(sz, shop)
    result = await _import(sz, shop)
    assert result.counts == {"products": 2, "customers": 2, "orders": 3}
    shop_id = (await sz.fetchrow("SELECT id FROM shops WHERE domain = $1", shop))["id"]
    assert len(await sz.fetch("SELECT 1 FROM shopify_orders WHERE shop_id = $1", shop_id)) == 3
    marks = await sz.fetch("SELECT resource, watermark FROM shopify_sync_state WHERE shop_id = $1", shop_id)
    assert {m["resource"] for m in marks} == {"products", "customers", "orders"}
    schedule = await sz.zora.services.temporal.get_schedule_handle(reconcile_schedule_id(shop)).describe()
    spec = schedule.schedule.spec
    assert spec.intervals[0].every == timedelta(minutes=60) and spec.jitter == timedelta(minutes=10)
    assert schedule.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP


async def test_reconcile_pages_only_changes_and_heals_a_lost_webhook(sz: ShopifyZora) -> None:
    shop = _domain()
    seeded = _seed(sz, shop)
    await _import(sz, shop)
    # Changes Shopify made whose webhooks never arrived.
    omar_id = gid_to_id(seeded["omar"]["id"]) or 0
    sz.shopify.update_customer(shop, omar_id, email="omar.new@example.com")
    sz.shopify.add_order(shop, omar_id, [(gid_to_id(seeded["mug"]["id"]) or 0, 3)])
    sz.shopify.requests.clear()

    result = await _reconcile(sz, shop)
    assert result.counts["customers"] >= 1 and result.counts["orders"] >= 1
    row = await sz.fetchrow("SELECT email FROM customers WHERE shopify_customer_id = $1", omar_id)
    assert row["email"] == "omar.new@example.com"
    assert len(await sz.fetch("SELECT 1 FROM shopify_orders WHERE shopify_customer_id = $1", omar_id)) == 2
    queries = [v.get("query") for s, _, v in sz.shopify.requests if s == shop]
    # Only what changed since the last run's start (less a small overlap), not a full import.
    assert queries and all(q and q.startswith("updated_at:>=") for q in queries)
    shop_id = (await sz.fetchrow("SELECT id FROM shops WHERE domain = $1", shop))["id"]
    marks = await sz.fetch("SELECT watermark FROM shopify_sync_state WHERE shop_id = $1", shop_id)
    assert all(m["watermark"] > datetime.now(UTC) - timedelta(minutes=1) for m in marks)


async def test_reconcile_pages_through_more_than_one_page(sz: ShopifyZora) -> None:
    shop = _domain()
    sz.shopify.add_shop(shop)
    for i in range(PAGE_SIZE["customers"] + 5):
        sz.shopify.add_customer(shop, f"C{i}", "Bulk", f"c{i}@example.com")
    result = await _import(sz, shop)
    assert result.counts["customers"] == PAGE_SIZE["customers"] + 5
    pages = [v for s, fields, v in sz.shopify.requests if s == shop and fields == ["customers"]]
    assert len(pages) == 2 and pages[1]["after"]


async def test_reconcile_of_an_uninstalled_shop_does_nothing(sz: ShopifyZora) -> None:
    result = await _reconcile(sz, "never-installed.myshopify.com")
    assert result.skipped == "not installed"


# Customer data for agents.


@pytest.fixture(scope="module")
async def seeded(sz: ShopifyZora) -> dict[str, Any]:
    shop = _domain()
    data = _seed(sz, shop)
    await _import(sz, shop)
    data["shop"] = shop
    data["shop_id"] = (await sz.fetchrow("SELECT id FROM shops WHERE domain = $1", shop))["id"]
    data["maya_row"] = (
        await sz.fetchrow("SELECT id FROM customers WHERE email = 'maya@example.com' AND shop_id = $1", data["shop_id"])
    )["id"]
    # Another shop with a customer of the same name: never in this shop's answers.
    other = _domain()
    sz.shopify.add_customer(other, "Maya", "Lindqvist", "maya@other.example")
    await _import(sz, other)
    return data


@pytest.mark.parametrize(
    ("query", "matched"),
    [
        ("Maya Lindqvist", "name"),
        ("lindqvst", "name"),  # a typo: trigram similarity
        ("maya@exa", "email"),
        ("415 555 0134", "phone"),
        ("vip", "tag"),
    ],
)
async def test_search_finds_by_name_email_phone_and_tag(
    sz: ShopifyZora, seeded: dict[str, Any], query: str, matched: str
) -> None:
    found = await CustomerDirectory(sz.zora.services.pool, sz.zora.settings).search(seeded["shop_id"], query)
    assert [(c.email, c.matched) for c in found] == [("maya@example.com", matched)]


async def test_search_by_order_number(sz: ShopifyZora, seeded: dict[str, Any]) -> None:
    directory = CustomerDirectory(sz.zora.services.pool, sz.zora.settings)
    name = seeded["second"]["name"]
    for query in (name, name.lstrip("#")):
        found = await directory.search(seeded["shop_id"], query)
        assert [(c.email, c.matched) for c in found] == [("maya@example.com", "order")]
    assert await directory.search(seeded["shop_id"], "#999999") == []


async def test_recent_orders_with_status_fulfilment_and_tracking(sz: ShopifyZora, seeded: dict[str, Any]) -> None:
    orders = await CustomerDirectory(sz.zora.services.pool, sz.zora.settings).recent_orders(
        seeded["shop_id"], seeded["maya_row"]
    )
    assert [o.name for o in orders] == [seeded["second"]["name"], seeded["first"]["name"]]
    latest = orders[0]
    assert (latest.financial_status, latest.fulfillment_status, latest.items) == ("paid", "fulfilled", 1)
    assert latest.tracking[0].model_dump() == {"company": "UPS", "number": "1ZTRACK42", "url": None}
    assert orders[1].total == Decimal("65.00")


async def test_profile_has_analytics_and_scores(sz: ShopifyZora, seeded: dict[str, Any]) -> None:
    profile = await CustomerDirectory(sz.zora.services.pool, sz.zora.settings).profile(
        seeded["shop_id"], seeded["maya_row"]
    )
    a = profile.analytics
    assert (a.valid_order_count, a.total_spent, a.average_order_value) == (2, Decimal("83.00"), Decimal("41.50"))
    assert a.top_products[0].title == "Espresso beans 1kg" and a.days_since_last_order == 0
    # Omar's only order was refunded: Maya is the only buyer, so the top of the shop.
    assert profile.scores.value == 100 and profile.scores.engagement == 100
    assert 0 < profile.scores.loyalty < 100
    assert profile.admin_url and profile.admin_url.startswith(f"https://{seeded['shop']}/admin/customers/")


async def test_profile_is_scoped_to_the_shop(sz: ShopifyZora, seeded: dict[str, Any]) -> None:
    other_id = (await sz.fetchrow("SELECT id FROM customers WHERE email = 'maya@other.example'"))["id"]
    with pytest.raises(CustomerNotFound):
        await CustomerDirectory(sz.zora.services.pool, sz.zora.settings).profile(seeded["shop_id"], other_id)


async def test_tags_and_note_are_written_back_to_shopify(sz: ShopifyZora, seeded: dict[str, Any]) -> None:
    directory = CustomerDirectory(sz.zora.services.pool, sz.zora.settings)
    shop_id, customer = seeded["shop_id"], seeded["maya_row"]
    assert await directory.add_tags(shop_id, customer, ["wholesale", "VIP"]) == ["VIP", "wholesale"]
    assert await directory.remove_tags(shop_id, customer, ["VIP"]) == ["wholesale"]
    await directory.set_note(shop_id, customer, "Call before delivery")
    node = sz.shopify.shops[seeded["shop"]].customers[gid_to_id(seeded["maya"]["id"]) or 0]
    assert node["tags"] == ["wholesale"] and node["note"] == "Call before delivery"
    used = [fields for s, fields, _ in sz.shopify.requests if s == seeded["shop"]]
    assert ["tagsAdd"] in used and ["tagsRemove"] in used and ["customerUpdate"] in used
    row = await sz.fetchrow("SELECT tags, note FROM customers WHERE id = $1", customer)
    assert (row["tags"], row["note"]) == (["wholesale"], "Call before delivery")
