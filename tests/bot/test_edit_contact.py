"""Correcting a customer's name, email, phone and default address from Slack (the "Edit customer" modal,
against the Slack and Shopify stand-ins), and the purchase analytics in `/zora` results."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import AGENT, CHANNEL
from tests.shopify.harness import ShopifyZora, running_shopify
from zora.shopify.models import ReconcileResult

OUTSIDER = "U0OUTSIDER"
KEEP = {"note": {"value": ""}, "tags": {"value": "VIP"}}


async def _open(sz: ShopifyZora) -> tuple[str, dict[str, Any], dict[str, Any]]:
    zora = sz.zora
    status, answer = await zora.standin.slash_command("/zora", "maya@example.com", user=AGENT, channel=CHANNEL)
    assert status == 200
    button = next(b["accessory"] for b in answer["blocks"] if b.get("accessory"))
    zora.standin.views.clear()
    assert await zora.standin.press_button(CHANNEL, None, button["action_id"], button["value"], user=AGENT) == 200
    ((view_id, view),) = zora.standin.views.items()
    return view_id, view, answer


def _shopify(sz: ShopifyZora, email: str) -> dict[str, Any]:
    return next(c for c in sz.shopify.shops[sz.shop].customers.values() if c["email"] == email)


async def _stored(sz: ShopifyZora) -> dict[str, Any]:
    rows = await sz.zora.fetch(
        "SELECT first_name, last_name, name, email, phone, city, country FROM customers WHERE shop_id = $1"
        " AND shopify_customer_id = $2",
        sz.shop_id,
        int(_maya(sz)["id"].rsplit("/", 1)[1]),
    )
    return dict(rows[0])


def _maya(sz: ShopifyZora) -> dict[str, Any]:
    return next(c for c in sz.shopify.shops[sz.shop].customers.values() if c["lastName"] == "Lindqvist")


async def test_name_email_phone_and_address_go_to_shopify_then_zora(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url) as sz:
        zora = sz.zora
        maya = sz.shopify.add_customer(zora.shop, "Maya", "Lindqvist", "maya@example.com", tags=["VIP"], city="Malmo")
        sz.shopify.add_customer(zora.shop, "Taken", "Person", "taken@example.com")
        beans = sz.shopify.add_product(zora.shop, "Coffee beans <b>", "12.50")
        maya_id, beans_id = (int(x["id"].rsplit("/", 1)[1]) for x in (maya, beans))
        sz.shopify.add_order(zora.shop, maya_id, [(beans_id, 2)])
        sz.shopify.add_order(zora.shop, maya_id, [(beans_id, 4)])
        await sz.install()
        await zora.services.temporal.get_workflow_handle(
            f"shopify:import:{zora.shop}", result_type=ReconcileResult
        ).result()
        zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT])
        zora.standin.add_user(OUTSIDER, "mallory", "Mallory")

        view_id, view, answer = await _open(sz)
        # The /zora result carries the purchase analytics, the product's title escaped.
        first = json.dumps(answer["blocks"][1])
        assert "average order 37.50" in first and "Coffee beans &lt;b&gt; x6" in first, first
        inputs = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"}
        assert inputs["first_name"] == "Maya" and inputs["email"] == "maya@example.com" and inputs["address1"] == ""
        before = await _stored(sz)

        # Checked before Shopify is asked: each field says what is wrong, nothing changes anywhere.
        bad = {**KEEP, "email": {"value": "maya at example"}, "phone": {"value": "0701234"},
               "address1": {"value": "x" * 256}, "country_code": {"value": "SWE"}}  # fmt: skip
        status, answer = await zora.standin.submit_view(view_id, bad, user=AGENT)
        assert answer["response_action"] == "errors"
        assert set(answer["errors"]) == {"email", "phone", "address1", "city", "country_code"}, answer
        assert await _stored(sz) == before and _maya(sz)["email"] == "maya@example.com"

        # Shopify's userError is shown next to the field it names.
        status, answer = await zora.standin.submit_view(
            view_id, {**KEEP, "email": {"value": "taken@example.com"}}, user=AGENT
        )
        assert answer["response_action"] == "errors" and "Email has already been taken" in answer["errors"]["email"]
        assert await _stored(sz) == before

        # Someone who is not the shop's agent saves nothing.
        status, answer = await zora.standin.submit_view(
            view_id, {**KEEP, "first_name": {"value": "Mallory"}}, user=OUTSIDER
        )
        assert answer["response_action"] == "errors" and "Not saved" in json.dumps(answer["errors"])
        assert await _stored(sz) == before and _maya(sz)["firstName"] == "Maya"

        good = {**KEEP, "first_name": {"value": " Maja "}, "last_name": {"value": "Lindqvist"},
                "email": {"value": "maja@example.com"}, "phone": {"value": "+46 (70) 123-45-67"},
                "address1": {"value": "Storgatan 1"}, "city": {"value": "Stockholm"}, "zip": {"value": "111 22"},
                "country_code": {"value": "se"}}  # fmt: skip
        status, answer = await zora.standin.submit_view(view_id, good, user=AGENT)
        assert status == 200 and not answer, answer
        shopify_side = _maya(sz)
        assert (shopify_side["firstName"], shopify_side["email"], shopify_side["phone"]) == (
            "Maja", "maja@example.com", "+46701234567"
        )  # fmt: skip
        address = shopify_side["defaultAddress"]
        assert (address["address1"], address["city"], address["zip"], address["countryCodeV2"]) == (
            "Storgatan 1", "Stockholm", "111 22", "SE"
        )  # fmt: skip
        assert address["id"].startswith("gid://shopify/MailingAddress/")
        assert await _stored(sz) == {"first_name": "Maja", "last_name": "Lindqvist", "name": "Maja Lindqvist",
                                     "email": "maja@example.com", "phone": "+46701234567", "city": "Stockholm",
                                     "country": "SE"}  # fmt: skip
        # Only what changed was sent: the last name, the same as before, was not.
        updates = [v for (_, fields, v) in sz.shopify.requests if fields == ["customerUpdate"]]
        assert updates[-1]["input"].keys() == {"id", "firstName", "email", "phone"}, updates[-1]
