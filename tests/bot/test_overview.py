"""`/zora` lists and the App Home: open, unassigned and mine, with links to the threads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import open_conversation

OTHER = "U0AGENT002"


@pytest.fixture(scope="module")
async def zora(zora: Zora) -> Zora:
    zora.standin.add_user(OTHER, "bo", "Bo Agent")
    # Both are the shop's agents: members of its channel (bot/access.py).
    zora.standin.set_channel_members(CHANNEL, [zora.standin.bot_user_id, AGENT, OTHER])
    # Three conversations: one claimed by AGENT, one by OTHER, one nobody's.
    roots = [(await open_conversation(zora, text)).root["ts"] for text in ("mine", "theirs", "nobody")]
    assert await zora.standin.press_button(CHANNEL, roots[0], "zora_claim", "-", user=AGENT) == 200
    assert await zora.standin.press_button(CHANNEL, roots[1], "zora_claim", "-", user=OTHER) == 200
    return zora


async def _zora(zora: Zora, text: str) -> dict[str, Any]:
    status, answer = await zora.standin.slash_command("/zora", text, user=AGENT, channel=CHANNEL)
    assert status == 200 and isinstance(answer, dict)
    assert answer.get("response_type") == "ephemeral"
    return answer


async def test_lists_open_unassigned_and_mine(zora: Zora) -> None:
    everything = json.dumps((await _zora(zora, "open"))["blocks"])
    assert "Open conversations* (3)" in everything and everything.count("https://slack.com/archives/") == 3
    unassigned = json.dumps((await _zora(zora, "unassigned"))["blocks"])
    assert "Unassigned* (1)" in unassigned and "unassigned" in unassigned
    mine = json.dumps((await _zora(zora, "mine"))["blocks"])
    assert "Assigned to you* (1)" in mine and f"<@{AGENT}>" in mine and f"<@{OTHER}>" not in mine


async def test_help_and_unknown_words(zora: Zora) -> None:
    assert "/zora open" in (await _zora(zora, ""))["text"]
    nobody = json.dumps((await _zora(zora, "dance"))["blocks"])
    assert f"No customer of {zora.shop} matches `dance`" in nobody


async def test_app_home_shows_the_same_overview(zora: Zora) -> None:
    assert await zora.standin.open_app_home(OTHER) == 200
    view = zora.standin.home_views[OTHER]
    text = json.dumps(view["blocks"])
    assert "Open conversations* (3)" in text and "Unassigned* (1)" in text and "Assigned to you* (1)" in text
    assert f"<@{OTHER}>" in text


async def test_customer_search_with_recent_orders_and_the_card_summary(zora: Zora) -> None:
    async with zora.services.pool.acquire() as conn:
        customer_id = await conn.fetchval(
            "INSERT INTO customers (shop_id, shopify_customer_id, name, email, phone, tags)"
            " VALUES ($1, 7001, 'Ada Lovelace', 'ada@example.com', '+44 20 7946 0000', '{vip}') RETURNING id",
            zora.shop_id,
        )
        await conn.execute(
            "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name, order_number,"
            " financial_status, fulfillment_status, currency, total_price, current_total_price, processed_at,"
            " line_items, fulfillments)"
            " VALUES ($1, 9001, 7001, '#1042', 1042, 'paid', 'fulfilled', 'EUR', 84.50, 84.50, now(),"
            ' \'[{"title": "Mug", "quantity": 2}]\','
            ' \'[{"tracking": [{"company": "DHL", "number": "JD0001", "url": "https://dhl.example/JD0001"}]}]\')',
            zora.shop_id,
        )
    for query in ("ada@example.com", "vip", "#1042", "lovelace"):
        blocks = json.dumps((await _zora(zora, query))["blocks"])
        assert "Ada Lovelace" in blocks, query
    found = json.dumps((await _zora(zora, "#1042"))["blocks"])
    assert "#1042" in found and "fulfilled" in found and "https://dhl.example/JD0001" in found

    # A verified shopper: the conversation card shows the Shopify summary and scores.
    session = await zora.session()
    async with zora.services.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO shoppers (id, shop_id, customer_id, name, email) VALUES ($1::uuid, $2, $3, $4, $5)",
            session["shopper_id"],
            zora.shop_id,
            customer_id,
            "Ada Lovelace",
            "ada@example.com",
        )
    # The token the app proxy issues to that signed-in customer carries the binding (cus).
    token = zora.bound_token(session, 7001)
    shopper = await zora.shopper(token)
    before = len(zora.standin.posted)
    assert (await shopper.send("where is #1042?"))["ok"]
    card = json.dumps((await zora.standin.wait_for_posts(before + 2))[before]["blocks"])
    assert "verified Shopify customer" in card and "Ada Lovelace" in card
    assert "1 orders" in card and "84.50 EUR spent" in card and "tags: vip" in card and "value " in card
