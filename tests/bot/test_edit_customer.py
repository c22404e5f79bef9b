"""The "Edit customer" modal: from a /zora result to Shopify (the Shopify stand-in) and back."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import AGENT, CHANNEL
from tests.shopify.harness import running_shopify
from zora.shopify.models import ReconcileResult


async def test_edit_note_and_tags_write_back_to_shopify(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        sz.shopify.add_customer(zora.shop, "Maya", "Lindqvist", "maya@example.com", tags=["VIP", "wholesale"])
        await sz.install()
        await zora.services.temporal.get_workflow_handle(
            f"shopify:import:{zora.shop}", result_type=ReconcileResult
        ).result()

        # The acting agent is the shop's agent: a member of its channel (bot/access.py).
        zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT])
        status, answer = await zora.standin.slash_command("/zora", "maya@example.com", user=AGENT, channel=CHANNEL)
        assert status == 200
        button = next(b["accessory"] for b in answer["blocks"] if b.get("accessory"))
        assert await zora.standin.press_button(CHANNEL, None, button["action_id"], button["value"], user=AGENT) == 200
        ((view_id, view),) = zora.standin.views.items()
        assert view["title"]["text"] == "Edit customer" and "VIP, wholesale" in json.dumps(view["blocks"])

        # Invalid input comes back as field errors and changes nothing.
        status, answer = await zora.standin.submit_view(
            view_id, {"note": {"value": "x" * 5001}, "tags": {"value": "VIP"}}, user=AGENT
        )
        assert status == 200 and answer["response_action"] == "errors" and "note" in answer["errors"]

        status, answer = await zora.standin.submit_view(
            view_id, {"note": {"value": "Prefers email."}, "tags": {"value": "VIP, returning "}}, user=AGENT
        )
        assert status == 200 and not answer, answer
        row = (await zora.fetch("SELECT note, tags FROM customers WHERE email = 'maya@example.com'"))[0]
        assert row["note"] == "Prefers email." and sorted(row["tags"]) == ["VIP", "returning"]
        shopify_side = next(
            c for c in sz.shopify.shops[zora.shop].customers.values() if c["email"] == "maya@example.com"
        )
        assert shopify_side["note"] == "Prefers email." and sorted(shopify_side["tags"]) == ["VIP", "returning"]


async def test_a_customer_of_another_shop_is_not_found(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        async with zora.services.pool.acquire() as conn:
            other = await conn.fetchval(
                "INSERT INTO shops (domain, name) VALUES ('elsewhere.myshopify.com', 'x') RETURNING id"
            )
            foreign = await conn.fetchval(
                "INSERT INTO customers (shop_id, shopify_customer_id, name) VALUES ($1, 1, 'Not yours') RETURNING id",
                other,
            )
        before = len(zora.standin.ephemeral)
        # The button names this shop (whose agent AGENT is) and another shop's customer.
        value = f"{zora.shop_id}:{foreign}"
        assert await zora.standin.press_button(CHANNEL, None, "zora_edit_customer", value, user=AGENT) == 200
        assert zora.standin.ephemeral[before:][0]["text"] == "That customer is not in this shop."
        assert zora.standin.views == {}
