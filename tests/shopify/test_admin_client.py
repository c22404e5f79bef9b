"""The Admin GraphQL client against the stand-in: cost-based waiting, THROTTLED, 429, 5xx, auth, pagination;
and the stand-in's answers against Shopify's published examples."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from activities.shopify import shopify_failure
from tests.conftest import fixtures_dir
from zora.shopify.admin import (
    CUSTOMERS_QUERY,
    ORDERS_QUERY,
    AdminClient,
    ShopifyAuthError,
    ShopifyQueryError,
    ShopifyRateLimited,
)
from zora.standins.shopify import ShopifyStandIn

SHOP = "throttle-test.myshopify.com"


class FakeTime:
    """One clock for the stand-in's bucket and the client's sleeps: waiting costs no wall time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def standin(time_: FakeTime) -> AsyncIterator[ShopifyStandIn]:
    st = ShopifyStandIn(api_key="k", api_secret="s", bucket_size=100, restore_rate=10, clock=time_.clock)
    await st.start()
    for i in range(20):
        st.add_customer(SHOP, f"N{i}", "Doe", f"n{i}@example.com")
    try:
        yield st
    finally:
        await st.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, st: ShopifyStandIn, t: FakeTime, token: str | None = None) -> AdminClient:
    return AdminClient(
        http,
        shop=SHOP,
        token=token or st.issue_token(SHOP),
        api_version="2026-04",
        base_url=st.base_url,
        sleep=t.sleep,
        clock=t.clock,
    )


async def test_waits_for_the_bucket_instead_of_getting_throttled(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_)
    variables = {"first": 20, "after": None, "query": None}
    await c.execute(CUSTOMERS_QUERY, variables)  # costs 62 of 100
    assert c.bucket.available == 38 and time_.slept == []
    await c.execute(CUSTOMERS_QUERY, variables)
    # (62 - 38) points (+1 of margin) at 10 points/s: 2.5 s, and Shopify never had to say THROTTLED.
    assert time_.slept == [pytest.approx(2.5)]
    assert c.throttled == 0


async def test_throttled_answer_is_waited_out_and_retried(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_)
    standin.throttle_next(1)
    data = await c.execute(CUSTOMERS_QUERY, {"first": 5, "after": None, "query": None})
    assert len(data["customers"]["nodes"]) == 5
    assert c.throttled == 1 and time_.slept and time_.slept[0] == pytest.approx(18 / 10)


async def test_429_honours_retry_after(standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime) -> None:
    c = client(http, standin, time_)
    standin.fail_next(429, retry_after=3)
    await c.execute(CUSTOMERS_QUERY, {"first": 1, "after": None, "query": None})
    assert time_.slept == [3.0]


async def test_429_past_the_attempts_becomes_a_temporal_retry_after(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_)
    standin.fail_next(429, count=5, retry_after=7)
    with pytest.raises(ShopifyRateLimited) as raised:
        await c.execute(CUSTOMERS_QUERY, {"first": 1, "after": None, "query": None})
    failure = shopify_failure(raised.value)
    assert failure.next_retry_delay == timedelta(seconds=7) and not failure.non_retryable


async def test_5xx_is_retried_with_backoff(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_)
    standin.fail_next(503, count=2)
    await c.execute(CUSTOMERS_QUERY, {"first": 1, "after": None, "query": None})
    assert len(time_.slept) == 2 and time_.slept[1] > time_.slept[0] * 0.9 / 2


async def test_revoked_token_is_permanent(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_, token="shpat_revoked")
    with pytest.raises(ShopifyAuthError) as raised:
        await c.execute(CUSTOMERS_QUERY, {"first": 1, "after": None, "query": None})
    assert shopify_failure(raised.value).non_retryable
    assert "shpat_revoked" not in repr(c)


async def test_query_over_the_single_query_limit_is_a_query_error(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    c = client(http, standin, time_)
    with pytest.raises(ShopifyQueryError, match="exceeds the single query max cost"):
        await c.execute(ORDERS_QUERY, {"first": 20, "after": None, "query": None})


async def test_paginate_follows_cursors(standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime) -> None:
    c = client(http, standin, time_)
    pages = [nodes async for nodes, _, _ in c.paginate(CUSTOMERS_QUERY, {"first": 8, "query": None}, "customers")]
    assert [len(p) for p in pages] == [8, 8, 4]
    assert len({n["id"] for p in pages for n in p}) == 20


async def test_standin_cost_block_matches_shopifys_published_example(
    standin: ShopifyStandIn, http: aiohttp.ClientSession, time_: FakeTime
) -> None:
    example = json.loads((fixtures_dir("shopify") / "admin-graphql-response-throttle-status.json").read_text())
    throttled = json.loads((fixtures_dir("shopify") / "admin-graphql-throttled-error.json").read_text())
    token = standin.issue_token(SHOP)
    url = standin.base_url.format(shop=SHOP) + "/admin/api/2026-04/graphql.json"
    body = {"query": CUSTOMERS_QUERY, "variables": {"first": 1}}
    async with http.post(url, json=body, headers={"X-Shopify-Access-Token": token}) as resp:
        answer = await resp.json()
    cost = answer["extensions"]["cost"]
    assert set(cost) == set(example["extensions"]["cost"])
    assert set(cost["throttleStatus"]) == set(example["extensions"]["cost"]["throttleStatus"])
    standin.throttle_next()
    async with http.post(url, json=body, headers={"X-Shopify-Access-Token": token}) as resp:
        answer = await resp.json()
    assert answer["errors"] == throttled["errors"]
