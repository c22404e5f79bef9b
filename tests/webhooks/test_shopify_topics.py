"""Every topic, with Shopify's published example bodies and with Zora's own, through the real route,
workflow and database; ordering, duplicates, deletes, compliance and tenant isolation."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import fixtures_dir
from tests.harness import CHANNEL
from tests.shopify.harness import ShopifyZora
from zora.app.dev import ensure_shop
from zora.shopify.models import reconcile_schedule_id
from zora.shopify.samples import TOPICS, sample_payload


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


async def _fresh_shop(sz: ShopifyZora, *, token: bool = False) -> tuple[str, int]:
    domain = f"t-{uuid.uuid4().hex[:10]}.myshopify.com"
    shop_id = await ensure_shop(sz.zora.services.pool, domain, "Fresh shop", CHANNEL)
    if token:
        async with sz.zora.services.pool.acquire() as conn:
            await conn.execute("UPDATE shops SET access_token = 'shpat_x', installed_at = now() WHERE id = $1", shop_id)
    return domain, shop_id


def _fixture_bytes(name: str, shop: str) -> bytes:
    # Bytes as published (HMAC is over bytes); only the documented `{shop}` placeholder is filled in.
    return (fixtures_dir("shopify") / name).read_bytes().replace(b"{shop}.myshopify.com", shop.encode())


def _with_time(payload: dict[str, Any], stamp: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(payload), "updated_at": stamp, **changes}


# Shopify's own example bodies (../shared/fixtures/shopify), one test per topic.

ORDER_ID = 820982911946154508
ORDER_CUSTOMER_ID = 115310627314723954
CUSTOMER_ID = 706405506930370084
PRODUCT_ID = 788032119674292922


@pytest.mark.parametrize(
    ("fixture", "topic"),
    [
        ("orders-create.json", "orders/create"),
        ("orders-updated.json", "orders/updated"),
        ("orders-fulfilled.json", "orders/fulfilled"),
        ("orders-cancelled.json", "orders/cancelled"),
    ],
)
async def test_provider_order_bodies(sz: ShopifyZora, fixture: str, topic: str) -> None:
    shop, shop_id = await _fresh_shop(sz)
    outcome = await sz.deliver(topic, _fixture_bytes(fixture, shop), shop=shop)
    assert outcome.status == "processed"
    order = await sz.fetchrow(
        "SELECT * FROM shopify_orders WHERE shop_id = $1 AND shopify_order_id = $2", shop_id, ORDER_ID
    )
    assert order["name"] == "#9999" and order["order_number"] == 1234
    assert order["total_price"] == Decimal("404.95") and order["currency"] == "USD"
    assert order["financial_status"] == "voided" and order["fulfillment_status"] == "unfulfilled"
    assert order["cancelled_at"] is not None and order["cancel_reason"] == "customer"
    assert order["shopify_customer_id"] == ORDER_CUSTOMER_ID
    assert [li["title"] for li in order["line_items"]][:2] == ["Aviator sunglasses", "Lens Protection Plan (2 Year)"]
    # The embedded customer is created so the order is findable by its buyer.
    customer = await sz.fetchrow(
        "SELECT email, name FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2", shop_id, ORDER_CUSTOMER_ID
    )
    assert (customer["email"], customer["name"]) == ("john@example.com", "John Smith")


@pytest.mark.parametrize(
    ("fixture", "topic"), [("customers-create.json", "customers/create"), ("customers-update.json", "customers/update")]
)
async def test_provider_customer_bodies(sz: ShopifyZora, fixture: str, topic: str) -> None:
    shop, shop_id = await _fresh_shop(sz)
    assert (await sz.deliver(topic, _fixture_bytes(fixture, shop), shop=shop)).status == "processed"
    row = await sz.fetchrow(
        "SELECT * FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2", shop_id, CUSTOMER_ID
    )
    assert (row["name"], row["email"], row["phone"]) == ("Bob Biller", "bob@biller.com", "555-555-5555")
    assert (row["note"], row["city"], row["country"]) == ("This customer loves ice cream", "Ottawa", "CA")


@pytest.mark.parametrize(
    ("fixture", "topic"), [("products-create.json", "products/create"), ("products-update.json", "products/update")]
)
async def test_provider_product_bodies(sz: ShopifyZora, fixture: str, topic: str) -> None:
    shop, shop_id = await _fresh_shop(sz)
    assert (await sz.deliver(topic, _fixture_bytes(fixture, shop), shop=shop)).status == "processed"
    row = await sz.fetchrow(
        "SELECT * FROM shopify_products WHERE shop_id = $1 AND shopify_product_id = $2", shop_id, PRODUCT_ID
    )
    assert row["title"] == "Example T-Shirt" and row["tags"] == ["example", "mens", "t-shirt"]
    assert [v["title"] for v in row["variants"]] == ["Small", "Medium"]
    # In stock (inventory_quantity 75 and 50): the assistant's product search says available.
    assert [v["available"] for v in row["variants"]] == [True, True]


async def test_provider_delete_bodies(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    await sz.deliver("orders/create", _fixture_bytes("orders-create.json", shop), shop=shop)
    await sz.deliver("customers/create", _fixture_bytes("customers-create.json", shop), shop=shop)
    await sz.deliver("products/create", _fixture_bytes("products-create.json", shop), shop=shop)
    for fixture, topic in (
        ("orders-delete.json", "orders/delete"),
        ("customers-delete.json", "customers/delete"),
        ("products-delete.json", "products/delete"),
    ):
        assert (await sz.deliver(topic, _fixture_bytes(fixture, shop), shop=shop)).status == "processed"
    order = await sz.fetchrow(
        "SELECT deleted_at, email FROM shopify_orders WHERE shop_id = $1 AND shopify_order_id = $2", shop_id, ORDER_ID
    )
    customer = await sz.fetchrow(
        "SELECT deleted_at, email, name FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2",
        shop_id,
        CUSTOMER_ID,
    )
    product = await sz.fetchrow(
        "SELECT deleted_at FROM shopify_products WHERE shop_id = $1 AND shopify_product_id = $2", shop_id, PRODUCT_ID
    )
    assert order["deleted_at"] and order["email"] is None
    assert customer["deleted_at"] and customer["email"] is None and customer["name"] is None
    assert product["deleted_at"]


async def test_provider_app_uninstalled_body(sz: ShopifyZora) -> None:
    shop = f"u-{uuid.uuid4().hex[:10]}.myshopify.com"
    await sz.install(shop)
    schedule = sz.zora.services.temporal.get_schedule_handle(reconcile_schedule_id(shop))
    await schedule.describe()
    # The published example leaves myshopify_domain null; a real delivery names the shop, and without it
    # a destructive topic is refused (tests/security/test_ingress.py).
    published = _fixture_bytes("app-uninstalled.json", shop)
    status, answer, _ = await sz.send("app/uninstalled", published, shop=shop)
    assert status == 400 and answer["status"] == "shop_mismatch"
    body = json.loads(published) | {"myshopify_domain": shop}
    outcome = await sz.deliver("app/uninstalled", body, shop=shop)
    assert outcome.status == "processed" and outcome.remove_schedule
    row = await sz.fetchrow("SELECT access_token, uninstalled_at FROM shops WHERE domain = $1", shop)
    assert row["access_token"] is None and row["uninstalled_at"] is not None
    with pytest.raises(Exception, match="not found"):
        await schedule.describe()


async def test_provider_compliance_bodies(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    body = json.loads(_fixture_bytes("customers-data-request.json", shop))
    # The person the published example talks about, with an order and a chat.
    await sz.deliver(
        "customers/create",
        {
            "id": body["customer"]["id"],
            "email": "john@example.com",
            "first_name": "John",
            "updated_at": "2026-01-01T00:00:00Z",
        },
        shop=shop,
    )
    await _chat(sz, shop_id, body["customer"]["id"], ["Where is order 299938?"])
    outcome = await sz.deliver("customers/data_request", _fixture_bytes("customers-data-request.json", shop), shop=shop)
    assert outcome.status == "processed"
    export = (
        await sz.fetchrow(
            "SELECT export FROM shopify_data_requests WHERE shop_id = $1 AND data_request_id = 9999", shop_id
        )
    )["export"]
    assert export["customers"][0]["email"] == "john@example.com"
    assert [m["body"] for c in export["conversations"] for m in c["messages"]] == ["Where is order 299938?"]

    outcome = await sz.deliver("customers/redact", _fixture_bytes("customers-redact.json", shop), shop=shop)
    assert outcome.status == "processed"
    assert await sz.fetch("SELECT 1 FROM messages WHERE shop_id = $1 AND body <> '[redacted]'", shop_id) == []

    outcome = await sz.deliver("shop/redact", _fixture_bytes("shop-redact.json", shop), shop=shop)
    assert outcome.status == "processed"
    assert await sz.fetchrow("SELECT 1 FROM shops WHERE id = $1", shop_id) is None


# Zora's own bodies: every topic in the table, so none is left without a test.


@pytest.mark.parametrize("topic", TOPICS)
async def test_every_topic_with_zoras_sample_body(sz: ShopifyZora, topic: str) -> None:
    # shop/redact comes 48 h after an uninstall: that shop has no token any more.
    shop, shop_id = await _fresh_shop(sz, token=topic != "shop/redact")
    outcome = await sz.deliver(topic, sample_payload(topic, shop), shop=shop)
    assert outcome.status == "processed", outcome
    if topic.startswith("orders/") and topic != "orders/delete":
        assert await sz.fetchrow("SELECT 1 FROM shopify_orders WHERE shop_id = $1 AND deleted_at IS NULL", shop_id)
    if topic == "orders/fulfilled":
        order = await sz.fetchrow(
            "SELECT fulfillment_status, fulfillments FROM shopify_orders WHERE shop_id = $1", shop_id
        )
        assert order["fulfillment_status"] == "fulfilled"
        assert order["fulfillments"][0]["tracking"][0]["number"] == "1Z999AA10123456784"
    if topic == "app/scopes_update":
        row = await sz.fetchrow("SELECT scopes FROM shops WHERE id = $1", shop_id)
        assert "write_customers" in row["scopes"]


# Ordering and repetition.


async def test_update_before_create_keeps_the_newer(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    base = sample_payload("customers/create", shop)
    newer = _with_time(base, "2026-02-01T00:00:00Z", email="new@example.com")
    older = _with_time(base, "2026-01-01T00:00:00Z", email="old@example.com")
    assert (await sz.deliver("customers/update", newer, shop=shop)).status == "processed"
    assert (await sz.deliver("customers/create", older, shop=shop)).status == "stale"
    row = await sz.fetchrow("SELECT email FROM customers WHERE shop_id = $1", shop_id)
    assert row["email"] == "new@example.com"


async def test_old_order_update_after_new_one_changes_nothing(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    paid = sample_payload("orders/paid", shop, updated_at=None)
    first = _with_time(paid, "2026-01-15T10:00:00Z", financial_status="pending")
    later = _with_time(paid, "2026-01-15T11:00:00Z", financial_status="paid")
    assert (await sz.deliver("orders/create", first, shop=shop)).status == "processed"
    assert (await sz.deliver("orders/paid", later, shop=shop)).status == "processed"
    assert (await sz.deliver("orders/updated", first, shop=shop)).status == "stale"
    row = await sz.fetchrow("SELECT financial_status FROM shopify_orders WHERE shop_id = $1", shop_id)
    assert row["financial_status"] == "paid"


async def test_late_update_does_not_bring_back_a_deleted_product(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    product = sample_payload("products/update", shop)
    await sz.deliver("products/delete", {"id": product["id"]}, shop=shop)
    assert (await sz.deliver("products/update", product, shop=shop)).status == "stale"
    row = await sz.fetchrow("SELECT deleted_at, title FROM shopify_products WHERE shop_id = $1", shop_id)
    assert row["deleted_at"] is not None and row["title"] == ""


async def test_many_redeliveries_of_one_event_apply_once(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    payload = sample_payload("customers/update", shop)
    webhook_id = str(uuid.uuid4())
    answers = [
        (await sz.send("customers/update", payload, shop=shop, webhook_id=webhook_id))[1]["status"] for _ in range(5)
    ]
    assert answers[0] == "accepted" and set(answers[1:]) <= {"duplicate"}
    assert (await sz.outcome(webhook_id)).status == "processed"
    assert len(await sz.fetch("SELECT 1 FROM customers WHERE shop_id = $1", shop_id)) == 1


# Tenant isolation.


async def test_one_shops_webhook_never_touches_another_shops_rows(sz: ShopifyZora) -> None:
    shop_a, id_a = await _fresh_shop(sz)
    shop_b, id_b = await _fresh_shop(sz)
    same = sample_payload("customers/update", shop_a)
    await sz.deliver("customers/update", _with_time(same, "2026-01-01T00:00:00Z", email="a@example.com"), shop=shop_a)
    # Same Shopify ids, newer data, but for shop B: shop A's row is untouched.
    await sz.deliver("customers/update", _with_time(same, "2026-03-01T00:00:00Z", email="b@example.com"), shop=shop_b)
    await sz.deliver("customers/delete", {"id": same["id"]}, shop=shop_b)
    row_a = await sz.fetchrow("SELECT email, deleted_at FROM customers WHERE shop_id = $1", id_a)
    assert (row_a["email"], row_a["deleted_at"]) == ("a@example.com", None)
    assert (await sz.fetchrow("SELECT deleted_at FROM customers WHERE shop_id = $1", id_b))["deleted_at"] is not None


async def test_compliance_body_about_another_shop_is_rejected(sz: ShopifyZora) -> None:
    shop_a, id_a = await _fresh_shop(sz)
    shop_b, _ = await _fresh_shop(sz)
    # A body naming shop A, delivered under shop B's header: refused at the door, acts on neither.
    status, answer, _ = await sz.send("shop/redact", {"shop_id": 1, "shop_domain": shop_a}, shop=shop_b)
    assert status == 400 and answer["status"] == "shop_mismatch"
    assert await sz.fetchrow("SELECT 1 FROM shops WHERE id = $1", id_a) is not None
    customer = sample_payload("customers/redact", shop_a)
    await sz.deliver("customers/create", sample_payload("customers/create", shop_a), shop=shop_a)
    status, answer, _ = await sz.send("customers/redact", customer, shop=shop_b)
    assert status == 400 and answer["status"] == "shop_mismatch"
    assert (await sz.fetchrow("SELECT email FROM customers WHERE shop_id = $1", id_a))["email"] is not None


# Compliance, in detail.


async def _chat(sz: ShopifyZora, shop_id: int, shopify_customer_id: int, bodies: list[str]) -> uuid.UUID:
    """A shopper linked to the customer, with a conversation and its transcript."""
    shopper, conversation = uuid.uuid4(), uuid.uuid4()
    async with sz.zora.services.pool.acquire() as conn:
        customer = await conn.fetchval(
            "SELECT id FROM customers WHERE shop_id = $1 AND shopify_customer_id = $2", shop_id, shopify_customer_id
        )
        await conn.execute(
            "INSERT INTO shoppers (id, shop_id, customer_id, name, email) VALUES ($1, $2, $3, 'J', 'j@example.com')",
            shopper,
            shop_id,
            customer,
        )
        await conn.execute(
            "INSERT INTO conversations (id, shop_id, shopper_id, last_seq) VALUES ($1, $2, $3, $4)",
            conversation,
            shop_id,
            shopper,
            len(bodies),
        )
        for seq, body in enumerate(bodies, start=1):
            await conn.execute(
                "INSERT INTO messages (shop_id, conversation_id, seq, direction, client_id, author_name, body, status)"
                " VALUES ($1, $2, $3, 'shopper', $4, 'J', $5, 'stored')",
                shop_id,
                conversation,
                seq,
                f"c{seq}",
                body,
            )
    return conversation


async def test_data_request_exports_profile_orders_and_transcripts(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    await sz.deliver("customers/create", sample_payload("customers/create", shop), shop=shop)
    await sz.deliver("orders/paid", sample_payload("orders/paid", shop), shop=shop)
    mine = await _chat(sz, shop_id, 7001, ["Hi, my order #1001?", "Thanks!"])
    # Another customer of the same shop must not leak into the export.
    other = _with_time(sample_payload("customers/create", shop), "2026-01-01T00:00:00Z", id=7002, email="x@example.com")
    await sz.deliver("customers/create", other, shop=shop)
    theirs = await _chat(sz, shop_id, 7002, ["someone else"])
    for conversation, name in ((mine, "receipt.pdf"), (theirs, "not-mine.pdf")):
        await sz.fetch(
            "INSERT INTO files (id, shop_id, conversation_id, message_seq, origin, name, content_type, size, data, state)"
            " VALUES (gen_random_uuid(), $1, $2, 1, 'shopper', $3, 'application/pdf', 5, '%PDF-', 'ready')",
            shop_id,
            conversation,
            name,
        )

    assert (
        await sz.deliver("customers/data_request", sample_payload("customers/data_request", shop), shop=shop)
    ).status == "processed"
    export = (await sz.fetchrow("SELECT export FROM shopify_data_requests WHERE shop_id = $1", shop_id))["export"]
    assert [c["email"] for c in export["customers"]] == ["maya.lindqvist@example.com"]
    assert [o["name"] for o in export["orders"]] == ["#1001"]
    assert [m["body"] for c in export["conversations"] for m in c["messages"]] == ["Hi, my order #1001?", "Thanks!"]
    [listed] = [f for c in export["conversations"] for f in c["files"]]
    assert (listed["name"], listed["size"], listed["message_seq"]) == ("receipt.pdf", 5, 1)
    assert listed["download_path"] == f"/widget/files/{listed['id']}"
    assert export["request"]["data_request_id"] == 9999


async def test_customer_redact_erases_profile_orders_and_transcripts_of_that_customer_only(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    await sz.deliver("customers/create", sample_payload("customers/create", shop), shop=shop)
    await sz.deliver("orders/paid", sample_payload("orders/paid", shop), shop=shop)
    mine = await _chat(sz, shop_id, 7001, ["my address is 1 Main St"])
    other = _with_time(sample_payload("customers/create", shop), "2026-01-01T00:00:00Z", id=7002, email="x@example.com")
    await sz.deliver("customers/create", other, shop=shop)
    theirs = await _chat(sz, shop_id, 7002, ["keep me"])

    outcome = await sz.deliver("customers/redact", sample_payload("customers/redact", shop), shop=shop)
    assert outcome.status == "processed"
    customer = await sz.fetchrow("SELECT * FROM customers WHERE shop_id = $1 AND shopify_customer_id = 7001", shop_id)
    assert (
        customer["redacted_at"] and customer["email"] is None and customer["name"] is None and customer["phone"] is None
    )
    assert await sz.fetch("SELECT 1 FROM shopify_orders WHERE shop_id = $1", shop_id) == []
    assert [r["body"] for r in await sz.fetch("SELECT body FROM messages WHERE conversation_id = $1", mine)] == [
        "[redacted]"
    ]
    assert [r["body"] for r in await sz.fetch("SELECT body FROM messages WHERE conversation_id = $1", theirs)] == [
        "keep me"
    ]
    shopper = await sz.fetchrow(
        "SELECT s.name, s.email FROM shoppers s JOIN conversations c ON c.shopper_id = s.id WHERE c.id = $1", mine
    )
    assert (shopper["name"], shopper["email"]) == (None, None)
    # Nothing personal stays in the inbox either.
    assert (
        await sz.fetch(
            "SELECT 1 FROM shopify_webhooks WHERE shop_domain = $1 AND payload IS NOT NULL AND status <> 'failed'", shop
        )
        == []
    )


async def test_shop_redact_deletes_everything_of_that_shop_only(sz: ShopifyZora) -> None:
    shop, shop_id = await _fresh_shop(sz)
    keep, keep_id = await _fresh_shop(sz)
    for s in (shop, keep):
        await sz.deliver("customers/create", sample_payload("customers/create", s), shop=s)
        await sz.deliver("orders/paid", sample_payload("orders/paid", s), shop=s)
    await _chat(sz, shop_id, 7001, ["bye"])
    assert (await sz.deliver("shop/redact", sample_payload("shop/redact", shop), shop=shop)).status == "processed"
    for table in ("customers", "shopify_orders", "conversations", "messages", "shoppers"):
        assert await sz.fetch(f"SELECT 1 FROM {table} WHERE shop_id = $1", shop_id) == [], table
    assert (
        await sz.fetch("SELECT 1 FROM shopify_webhooks WHERE shop_domain = $1 AND topic <> 'shop/redact'", shop) == []
    )
    assert len(await sz.fetch("SELECT 1 FROM shopify_orders WHERE shop_id = $1", keep_id)) == 1


async def test_shop_redact_after_a_reinstall_is_ignored(sz: ShopifyZora) -> None:
    shop = f"r-{uuid.uuid4().hex[:10]}.myshopify.com"
    await sz.install(shop)
    await sz.deliver("app/uninstalled", sample_payload("app/uninstalled", shop), shop=shop)
    await sz.install(shop)
    outcome = await sz.deliver("shop/redact", sample_payload("shop/redact", shop), shop=shop)
    assert outcome.status == "ignored"
    row = await sz.fetchrow("SELECT access_token IS NOT NULL AS installed FROM shops WHERE domain = $1", shop)
    assert row["installed"]
    await sz.zora.services.temporal.get_schedule_handle(reconcile_schedule_id(shop)).describe()


# Notes for agents.


async def test_order_events_reach_the_thread_of_the_customers_open_conversation(sz: ShopifyZora) -> None:
    shopper = await sz.zora.shopper()
    # Earlier tests in this module may have posted (export announcements): count from here.
    before = len(sz.zora.standin.posted)
    await shopper.send("Hello, about my order")
    root = (await sz.zora.standin.wait_for_posts(before + 2))[before]
    await sz.deliver("customers/create", sample_payload("customers/create", sz.shop))
    async with sz.zora.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE shoppers SET customer_id = (SELECT id FROM customers WHERE shop_id = $1 AND shopify_customer_id = 7001)"
            " WHERE shop_id = $1",
            sz.shop_id,
        )
    await sz.deliver("orders/fulfilled", sample_payload("orders/fulfilled", sz.shop))
    posts = await sz.zora.standin.wait_for_posts(before + 3)
    note = posts[before + 2]
    assert note["channel"] == CHANNEL and note["thread_ts"] == root["ts"]
    assert "#1001 fulfilled" in note["text"] and "1Z999AA10123456784" in note["text"]
    # orders/updated is not an event agents are told about; a customer without a conversation is skipped quietly.
    await sz.deliver("orders/updated", sample_payload("orders/updated", sz.shop))
    other = _with_time(sample_payload("orders/paid", sz.shop), "2026-03-01T00:00:00Z", id=9002)
    other["customer"]["id"] = 7999
    assert (await sz.deliver("orders/paid", other)).status == "processed"
    assert len(sz.zora.standin.posted) == before + 3


@pytest.mark.parametrize(
    "topic",
    ["orders/create", "orders/delete", "customers/update", "products/delete", "app/uninstalled", "app/scopes_update"],
)
async def test_a_delivery_for_a_shop_zora_does_not_hold_is_ignored_and_writes_nothing(
    sz: ShopifyZora, topic: str
) -> None:
    stranger = f"stranger-{uuid.uuid4().hex[:8]}.myshopify.com"
    payload = sample_payload(topic, stranger)
    outcome = await sz.deliver(topic, payload, shop=stranger)
    assert (outcome.status, outcome.detail) == ("ignored", f"no shop {stranger} in Zora")
    assert await sz.fetch("SELECT 1 FROM shops WHERE domain = $1", stranger) == []
    assert outcome.remove_schedule is False and outcome.notice is None
