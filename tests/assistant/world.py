"""Two shops with customers, orders, products and conversations, for the assistant's tool tests; and the demo
shop `zora dev` seeds and imports, for the tests of whole turns and conversations (`demo_shop`)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from activities.assistant_tools import AssistantToolActivities
from tests.assistant.turns_harness import until
from tests.helpers import catching_mail, smtp_options
from tests.shopify.harness import ShopifyZora, running_shopify
from zora.assistant import ToolCall, ToolInput, ToolOutput
from zora.mail_catcher import MailCatcher
from zora.shopify.dev import enable_demo_assistant, install_demo
from zora.standins.openai import OpenAIStandIn

TRACKING = "1Z999AA10123456784"
TRACKING_URL = "https://www.ups.com/track?tracknum=1Z999AA10123456784"
THEIR_TRACKING = "THEIRS-0000000001"


@dataclass
class Shop:
    id: int
    domain: str
    customers: dict[str, int] = field(default_factory=dict)  # name -> customers.id


async def add_shop(conn: Any, label: str, settings: dict[str, Any] | None = None) -> Shop:
    domain = f"{label}-{secrets.token_hex(4)}.myshopify.com"
    shop_id: int = await conn.fetchval(
        "INSERT INTO shops (domain, name, settings) VALUES ($1, $2, $3) RETURNING id",
        domain,
        f"{label.title()} Store",
        settings or {"assistant": {"enabled": True}},
    )
    return Shop(shop_id, domain)


async def add_customer(conn: Any, shop: Shop, name: str, shopify_id: int, email: str) -> None:
    shop.customers[name] = await conn.fetchval(
        "INSERT INTO customers (shop_id, shopify_customer_id, email, name) VALUES ($1, $2, $3, $4) RETURNING id",
        shop.id,
        shopify_id,
        email,
        name,
    )


async def add_order(
    conn: Any,
    shop: Shop,
    number: int,
    customer_shopify_id: int | None,
    email: str,
    *,
    tracking: str | None = None,
    url: str | None = None,
    title: str = "Enamel camp mug",
) -> None:
    fulfillments = (
        [{"status": "success", "tracking": [{"company": "UPS", "number": tracking, "url": url}]}] if tracking else []
    )
    await conn.execute(
        "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name, order_number, email,"
        " financial_status, fulfillment_status, currency, total_price, current_total_price, processed_at,"
        " line_items, fulfillments) VALUES ($1, $2, $3, $4, $5, $6, 'paid', $7, 'USD', 36, 36,"
        " now() - make_interval(days => $8), $9, $10)",
        shop.id,
        number * 10 + shop.id,
        customer_shopify_id,
        f"#{number}",
        number,
        email,
        "fulfilled" if tracking else "unfulfilled",
        2000 - number,
        [{"title": title, "quantity": 2, "price": "18.00"}],
        fulfillments,
    )


async def add_product(
    conn: Any, shop: Shop, pid: int, title: str, price: str, *, status: str = "active", available: bool | None = True
) -> None:
    variant: dict[str, Any] = {"id": pid * 10, "title": "Default Title", "sku": None, "price": price}
    if available is not None:
        variant["available"] = available
    await conn.execute(
        "INSERT INTO shopify_products (shop_id, shopify_product_id, title, status, tags, variants)"
        " VALUES ($1, $2, $3, $4, '{}', $5)",
        shop.id,
        pid,
        title,
        status,
        [variant],
    )


async def add_conversation(conn: Any, shop: Shop, customer: str | None = None) -> uuid.UUID:
    """A conversation of a new shopper; bound to `customer` as the app proxy binds a verified one."""
    shopper, conversation = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO shoppers (id, shop_id, customer_id) VALUES ($1, $2, $3)",
        shopper,
        shop.id,
        shop.customers[customer] if customer else None,
    )
    await conn.execute(
        "INSERT INTO conversations (id, shop_id, shopper_id) VALUES ($1, $2, $3)", conversation, shop.id, shopper
    )
    return conversation


async def build(conn: Any) -> tuple[Shop, Shop]:
    """Ours: Maya (#1001 shipped with tracking, #1003, and #1004 as a guest), Omar (#1002); products. Theirs: another shop with
    its own #1001 for its own customer, and its own products."""
    ours = await add_shop(conn, "ours")
    await add_customer(conn, ours, "maya", 7001, "maya@example.com")
    await add_customer(conn, ours, "omar", 7002, "omar@example.com")
    await add_order(conn, ours, 1001, 7001, "maya@example.com", tracking=TRACKING, url=TRACKING_URL)
    await add_order(conn, ours, 1002, 7002, "omar@example.com", title="Linen apron")
    await add_order(conn, ours, 1003, 7001, "Maya@Example.com", title="Espresso beans 1kg")
    # A guest checkout (no customer) with Maya's email.
    await add_order(conn, ours, 1004, None, "maya@example.com", title="Gift card")
    await add_product(conn, ours, 1, "Ceramic pour-over set", "48.00")
    await add_product(conn, ours, 2, "Enamel camp mug", "18.00")
    await add_product(conn, ours, 3, "Secret prototype mug", "99.00", status="draft")
    theirs = await add_shop(conn, "theirs")
    await add_customer(conn, theirs, "maya", 7001, "maya@example.com")
    await add_order(conn, theirs, 1001, 7001, "maya@example.com", tracking=THEIR_TRACKING, title="Their widget")
    await add_product(conn, theirs, 1, "Their exclusive mug", "5.00")
    return ours, theirs


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=f"call_{secrets.token_hex(4)}", name=name, arguments=json.dumps(arguments))


async def run_tool(
    env: Any, tools: AssistantToolActivities, shop: Shop, conversation: uuid.UUID, name: str, /, **arguments: Any
) -> dict[str, Any]:
    activity = {a.__name__: a for a in tools.all()}[name]
    output: ToolOutput = await env.run(
        activity, ToolInput(shop_id=shop.id, conversation_id=conversation, call=call(name, **arguments))
    )
    result: dict[str, Any] = json.loads(output.content)
    return result


@dataclass
class DemoShop:
    sz: ShopifyZora
    model: OpenAIStandIn
    catcher: MailCatcher


@asynccontextmanager
async def demo_shop(infra: Any, database_url: str, *, assistant_on: bool = False) -> AsyncIterator[DemoShop]:
    """Zora beside the Shopify stand-in's demo shop, imported (orders up to #1005), the OpenAI stand-in's demo
    model and a real SMTP server; `assistant_on`: the shop's assistant on, as `zora dev` turns it on."""
    model = OpenAIStandIn(api_key="sk-demo")
    await model.start()
    try:
        async with (
            catching_mail() as catcher,
            running_shopify(
                infra,
                database_url,
                openai_base_url=model.base_url,
                openai_api_key="sk-demo",
                openai_model="zora-demo",
                **smtp_options(catcher.smtp_port),
            ) as sz,
        ):
            # What `zora dev` does for its demo shop (zora/app/dev.py): assistant on, then install and import.
            if assistant_on:
                assert await enable_demo_assistant(sz.zora.services.pool, sz.shop_id)
            await install_demo(sz.zora.services, sz.shopify, sz.shop)
            # The initial import runs as a workflow; generous, the machine is shared.
            await until(lambda: _order_imported(sz, 1005), timeout=90.0)
            yield DemoShop(sz, model, catcher)
    finally:
        model.release()
        await model.stop()


async def _order_imported(sz: ShopifyZora, number: int) -> bool:
    row = await sz.fetchrow("SELECT 1 FROM shopify_orders WHERE shop_id = $1 AND order_number = $2", sz.shop_id, number)
    return row is not None
