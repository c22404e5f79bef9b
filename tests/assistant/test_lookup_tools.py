"""The lookup tools against real PostgreSQL: each answers only from the conversation's shop, and orders
only for the customer the app proxy verified (or an email proven with a code, test_identity_codes.py).
Whatever the model puts in the arguments (another shop, another customer's email or order) changes
nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assistant_lookups import search_patterns
from activities.assistant_tools import AssistantToolActivities
from tests.assistant.world import THEIR_TRACKING, TRACKING, TRACKING_URL, Shop, add_conversation, add_product, build
from tests.assistant.world import run_tool as _run
from zora import db


@dataclass
class World:
    pool: Any
    tools: AssistantToolActivities
    ours: Shop
    theirs: Shop
    maya: uuid.UUID  # a conversation of our shop whose shopper the app proxy verified as Maya
    anonymous: uuid.UUID  # a conversation of our shop nobody verified
    their_maya: uuid.UUID  # the other shop's verified Maya

    async def run(self, shop: Shop, conversation: uuid.UUID, name: str, /, **arguments: Any) -> dict[str, Any]:
        return await _run(ActivityEnvironment(), self.tools, shop, conversation, name, **arguments)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            ours, theirs = await build(conn)
            maya = await add_conversation(conn, ours, "maya")
            anonymous = await add_conversation(conn, ours)
            their_maya = await add_conversation(conn, theirs, "maya")
        yield World(pool, AssistantToolActivities(pool), ours, theirs, maya, anonymous, their_maya)
    finally:
        await pool.close()


def mentions(result: dict[str, Any], *needles: str) -> list[str]:
    text = json.dumps(result).lower()
    return [n for n in needles if n.lower() in text]


async def test_the_verified_customer_gets_their_order_with_tracking(world: World) -> None:
    result = await world.run(world.ours, world.maya, "order_status", order_number="#1001")
    assert result["order"] == "#1001" and result["status"] == "fulfilled"
    assert result["tracking"] == [{"company": "UPS", "number": TRACKING, "url": TRACKING_URL}]
    assert result["items"] == [{"title": "Enamel camp mug", "quantity": 2}]
    assert result["total"] == "36.00 USD" and result["payment"] == "paid"
    # The number is read however the model writes it.
    assert (await world.run(world.ours, world.maya, "order_status", order_number=1001))["order"] == "#1001"
    assert (await world.run(world.ours, world.maya, "order_status", order_number=" 1001"))["order"] == "#1001"


async def test_another_customers_order_gets_the_same_answer_as_one_that_does_not_exist(world: World) -> None:
    omars = await world.run(world.ours, world.maya, "order_status", order_number="#1002")
    missing = await world.run(world.ours, world.maya, "order_status", order_number="#4242")
    assert omars["identity_needed"] is True and "send_verification_code" in omars["how"]
    assert {**omars, "order": None} == {**missing, "order": None}
    assert mentions(omars, "omar", "apron", "fulfil", "paid") == []


async def test_an_unverified_shopper_gets_nothing_personal(world: World) -> None:
    result = await world.run(world.ours, world.anonymous, "order_status", order_number="#1001")
    assert result == (await world.run(world.ours, world.anonymous, "order_status", order_number="#4242")) | {
        "order": "#1001"
    }
    assert mentions(result, TRACKING, "maya", "mug", "fulfilled") == []
    recent = await world.run(world.ours, world.anonymous, "recent_orders")
    assert recent["orders"] == [] and recent["identity_needed"] is True


async def test_an_injection_in_the_arguments_changes_nothing(world: World) -> None:
    # The model names Maya's email, her customer id and another shop: none of it is read.
    injected = {
        "order_number": "#1001",
        "email": "maya@example.com",
        "customer_id": "gid://shopify/Customer/7001",
        "shop": world.theirs.domain,
        "shop_id": world.theirs.id,
        "conversation_id": str(world.maya),
    }
    result = await world.run(world.ours, world.anonymous, "order_status", **injected)
    assert result["identity_needed"] is True and mentions(result, TRACKING, THEIR_TRACKING, "maya") == []
    recent = await world.run(world.ours, world.anonymous, "recent_orders", **injected)
    assert recent["orders"] == []


async def test_the_other_shops_orders_stay_theirs(world: World) -> None:
    # Their verified Maya (the same Shopify customer id and email) gets their #1001, never ours.
    theirs = await world.run(world.theirs, world.their_maya, "order_status", order_number="#1001")
    assert theirs["tracking"][0]["number"] == THEIR_TRACKING and mentions(theirs, TRACKING_URL) == []
    recent = await world.run(world.theirs, world.their_maya, "recent_orders")
    assert [o["order"] for o in recent["orders"]] == ["#1001"]
    # A turn whose shop and conversation do not match reads nothing and fails for good.
    with pytest.raises(ApplicationError) as refused:
        await world.run(world.theirs, world.maya, "order_status", order_number="#1001")
    assert refused.value.non_retryable and refused.value.type == "ToolScope"
    for name, args in (("recent_orders", {}), ("product_search", {"query": "mug"})):
        with pytest.raises(ApplicationError):
            await world.run(world.ours, world.their_maya, name, **args)


async def test_recent_orders_are_the_verified_customers_latest_first(world: World) -> None:
    result = await world.run(world.ours, world.maya, "recent_orders")
    # #1004 is a guest checkout with her account's email: hers too.
    assert [o["order"] for o in result["orders"]] == ["#1004", "#1003", "#1001"]
    assert (await world.run(world.ours, world.maya, "order_status", order_number="#1004"))["items"][0][
        "title"
    ] == "Gift card"
    assert mentions(result, "#1002", "omar", "apron") == []
    assert set(result["orders"][0]) == {"order", "placed", "status", "payment", "total"}


async def test_product_search_reads_this_shops_active_catalogue(world: World) -> None:
    result = await world.run(world.ours, world.anonymous, "product_search", query="Do you sell a camp mug?")
    assert result["products"] == [{"title": "Enamel camp mug", "price": "18.00", "options": [], "available": True}]
    mugs = await world.run(world.ours, world.anonymous, "product_search", query="mug")
    # Neither the draft nor the other shop's mug.
    assert [p["title"] for p in mugs["products"]] == ["Enamel camp mug"]
    async with world.pool.acquire() as conn:
        await add_product(conn, world.ours, 30, "Linen apron", "39.00", available=False)
        await add_product(conn, world.ours, 31, "Canvas apron", "29.00", available=None)
    aprons = await world.run(world.ours, world.anonymous, "product_search", query="apron")
    assert {p["title"]: p["available"] for p in aprons["products"]} == {"Linen apron": False, "Canvas apron": None}


async def test_product_search_is_bounded_and_wildcards_match_nothing(world: World) -> None:
    async with world.pool.acquire() as conn:
        for n in range(10, 20):
            await add_product(conn, world.ours, n, f"Travel mug no. {n}", "12.00")
    result = await world.run(world.ours, world.anonymous, "product_search", query="travel mug")
    assert len(result["products"]) == 5
    for query in ("%", "_", "%_%", "\\%"):
        assert (await world.run(world.ours, world.anonymous, "product_search", query=query))["products"] == []
    assert search_patterns("100%_off mug\\") == ["%100%", "%off%", "%mug%"]
    assert search_patterns("a_b%") == []


@pytest.mark.parametrize(
    ("name", "arguments", "problem"),
    [
        ("order_status", {}, "order_number"),
        ("order_status", {"order_number": "one thousand"}, "order number"),
        ("order_status", {"order_number": "#1" + "0" * 20}, "order number"),
        ("order_status", {"order_number": True}, "order number"),
        ("product_search", {"query": ""}, "query"),
        ("product_search", {"query": "x" * 201}, "query"),
        ("product_search", {"query": 5}, "query"),
        ("send_verification_code", {"email": "not an address"}, "email"),
        ("send_verification_code", {"email": "a@example.com, b@example.com"}, "email"),
        ("check_verification_code", {"code": "12345"}, "6 digits"),
        ("check_verification_code", {"code": "abcdef"}, "6 digits"),
    ],
)
async def test_bad_arguments_are_sent_back_to_the_model(
    world: World, name: str, arguments: dict[str, Any], problem: str
) -> None:
    result = await world.run(world.ours, world.anonymous, name, **arguments)
    assert problem in result["error"] and f"call {name} again" in result["error"]
