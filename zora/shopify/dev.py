"""`zora dev` without a Shopify app: the stand-in, a seeded demo shop, and its install."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from zora.db import Pool
from zora.http import client_session
from zora.security import kept_secret
from zora.services import Services
from zora.shopify import install
from zora.shopify.cli import SECRET_FILE
from zora.shopify.records import gid_to_id
from zora.standins.shopify import ShopifyStandIn
from zora.store import shops as sshops

DEV_API_KEY = "zora-dev-app"
DEMO_TRACKING = "1Z999AA10123456784"
# What the demo shop's assistant knows (the merchant's settings page changes it).
DEMO_ASSISTANT: dict[str, Any] = {
    "enabled": True,
    "mode": "always_first",
    "persona_name": "Zora",
    "policies": "Returns: free within 30 days of delivery, unused, in the original box. Refunds reach the card"
    " within 5 business days of the return arriving. Shipping: orders leave our Portland workshop within 2"
    " business days; standard shipping is free over $50.",
}


async def start_standin(
    stack: contextlib.AsyncExitStack, data_dir: Path, web_port: int, port: int = 8091
) -> tuple[ShopifyStandIn, dict[str, Any]]:
    """The stand-in, and the settings that point Zora at it."""
    secret = kept_secret(data_dir / SECRET_FILE)
    standin = ShopifyStandIn(
        api_key=DEV_API_KEY,
        api_secret=secret,
        webhook_url=f"http://127.0.0.1:{web_port}/webhooks/shopify",
        app_url=f"http://127.0.0.1:{web_port}/admin",
    )
    # A new shop installs from the stand-in's listing through Zora's OAuth, pressing Install on the grant screen.
    standin.install_url = f"http://127.0.0.1:{web_port}/shopify/install"
    standin.grant_screen = True
    await standin.start(port=port)
    stack.push_async_callback(standin.stop)
    return standin, {
        "shopify_api_key": DEV_API_KEY,
        "shopify_api_secret": secret,
        "shopify_admin_base_url": standin.base_url,
    }


def seed(standin: ShopifyStandIn, shop: str) -> None:
    """A small catalogue, a few customers with a history, so the Slack card has something to show."""
    standin.add_shop(shop, "Zora demo store")
    catalogue = [
        standin.add_product(shop, title, price, tags=tags, stock=stock)
        for title, price, tags, stock in (
            ("Ceramic pour-over set", "48.00", ["coffee", "gift"], 12),
            ("Espresso beans 1kg", "32.50", ["coffee"], 40),
            ("Enamel camp mug", "18.00", ["outdoor"], 25),
            # Sold out: the assistant's product search says so.
            ("Linen apron", "39.00", ["kitchen"], 0),
        )
    ]
    ids = [gid_to_id(p["id"]) or 0 for p in catalogue]
    people = [
        standin.add_customer(
            shop, "Maya", "Lindqvist", "maya@example.com", phone="+14155550134", tags=["VIP"], city="Portland"
        ),
        standin.add_customer(shop, "Omar", "Haddad", "omar@example.com", city="Lyon", country="FR"),
        standin.add_customer(
            shop, "Aiko", "Tanaka", "aiko@example.com", tags=["wholesale"], city="Osaka", country="JP"
        ),
    ]
    now = datetime.now(UTC)
    maya, omar, aiko = (gid_to_id(p["id"]) for p in people)
    # #1001, the first order added: "Where is my order #1001?" in the demo storefront gets its tracking from
    # the assistant (once the shopper proves maya@example.com with the code the mail catcher shows).
    shipped = standin.add_order(
        shop,
        maya,
        [(ids[2], 2)],
        fulfillment="FULFILLED",
        processed_at=now - timedelta(days=3),
        tracking=("UPS", DEMO_TRACKING),
    )
    shipped["fulfillments"][0]["trackingInfo"][0]["url"] = f"https://www.ups.com/track?tracknum={DEMO_TRACKING}"
    standin.add_order(shop, maya, [(ids[0], 1), (ids[1], 2)], processed_at=now - timedelta(days=200))
    standin.add_order(shop, maya, [(ids[1], 2)], processed_at=now - timedelta(days=95))
    standin.add_order(shop, omar, [(ids[3], 1)], financial="REFUNDED", processed_at=now - timedelta(days=30))
    standin.add_order(shop, aiko, [(ids[1], 12)], processed_at=now - timedelta(days=12))


async def install_demo(services: Services, standin: ShopifyStandIn, shop: str) -> None:
    """Install the demo shop as Shopify's OAuth would: token, schedule, initial import."""
    seed(standin, shop)
    async with client_session() as http:
        await install.install_shop(
            services.pool,
            services.temporal,
            http,
            services.settings,
            install.Grant(
                shop=shop, access_token=standin.issue_token(shop), scopes=services.settings.shopify_scopes.split(",")
            ),
        )


async def enable_demo_assistant(pool: Pool, shop_id: int) -> bool:
    """The demo shop's assistant on, unless its settings already say anything about it."""
    async with pool.acquire() as conn:
        return await sshops.default_assistant(conn, shop_id, DEMO_ASSISTANT)
