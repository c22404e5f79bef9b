"""Prometheus metrics scraped from the real web app, the worker's endpoint and the Temporal SDK's."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError
from temporalio.client import Client
from temporalio.worker import Worker

from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import serving
from tests.shopify.harness import webhook_headers
from zora import metrics
from zora.limits import Limiter, RateLimited
from zora.settings import Settings

TOKEN = "metrics-" + secrets.token_urlsafe(16)
SHOPIFY_SECRET = "shopify-test-secret"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {"metrics_token": TOKEN, "shopify_api_secret": SHOPIFY_SECRET}


async def scrape(zora: Zora) -> Samples:
    async with zora.http.get(f"{zora.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        return parse(await resp.text())


async def wait_for_scrape(zora: Zora, predicate: Callable[[Samples], bool]) -> Samples:
    for _ in range(300):
        samples = await scrape(zora)
        if predicate(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError("the metrics never showed the expected change")


async def test_round_trip_moves_the_counters_and_the_relay_histogram(zora: Zora) -> None:
    before = await scrape(zora)
    shopper = await zora.shopper()
    connected = await wait_for_scrape(
        zora,
        lambda s: value(s, "zora_sockets_connected") == value(before, "zora_sockets_connected") + 1,
    )
    assert connected

    assert (await shopper.send("Where is my order?"))["ok"]
    root, _reply = await zora.standin.wait_for_posts(2)
    await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "It ships tomorrow.", user=AGENT) == 200
    await shopper.wait_for(lambda: len(shopper.agent_messages()) == 1)

    after = await scrape(zora)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("zora_shopper_messages_total", stage="received") == 1
    assert moved("zora_shopper_messages_total", stage="stored") == 1
    assert moved("zora_slack_posts_total") == 1
    assert moved("zora_agent_replies_total") == 1
    assert moved("zora_relay_seconds_count") == 1
    assert moved("zora_relay_seconds_bucket", le="+Inf") == 1
    assert moved("zora_relay_seconds_sum") > 0
    # Every bucket at or above the observed latency moved, the ones below did not.
    buckets = sorted(
        (float(dict(labels)["le"]), value(after, name, **dict(labels)) - value(before, name, **dict(labels)))
        for (name, labels) in after
        if name == "zora_relay_seconds_bucket"
    )
    assert [d for _, d in buckets] == sorted(d for _, d in buckets)
    assert {d for _, d in buckets} <= {0.0, 1.0}

    await shopper.close()
    await wait_for_scrape(zora, lambda s: value(s, "zora_sockets_connected") == value(before, "zora_sockets_connected"))


async def test_webhook_ack_latency_and_outcomes(zora: Zora) -> None:
    before = await scrape(zora)
    body = json.dumps({"id": 1}).encode()
    signed = webhook_headers(zora.shop, "zora/not_a_topic", body, secret=SHOPIFY_SECRET)
    url = f"{zora.base_url}/webhooks/shopify"
    async with zora.http.post(url, data=body, headers={**signed, "X-Shopify-Hmac-Sha256": "wrong"}) as resp:
        assert resp.status == 401
    async with zora.http.post(url, data=body, headers=signed) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "unsupported"
    after = await scrape(zora)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("zora_webhook_deliveries_total", outcome="invalid_hmac") == 1
    assert moved("zora_webhook_deliveries_total", outcome="unsupported") == 1
    assert moved("zora_webhook_ack_seconds_count") == 2
    assert moved("zora_webhook_ack_seconds_bucket", le="+Inf") == 2


async def test_metrics_need_the_token(zora: Zora) -> None:
    url = f"{zora.base_url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        async with zora.http.get(url, headers=headers) as resp:
            assert resp.status == 401
            assert "zora_" not in await resp.text()


async def test_slack_api_errors_are_counted_by_method_and_code(zora: Zora) -> None:
    before = await scrape(zora)
    with pytest.raises(SlackApiError):
        await zora.services.slack.chat_postMessage(channel="C0NOWHERE0", text="hello")
    after = await scrape(zora)
    labels = {"method": "chat.postMessage", "error": "channel_not_found"}
    assert (
        value(after, "zora_slack_api_errors_total", **labels) - value(before, "zora_slack_api_errors_total", **labels)
        == 1
    )


async def test_a_rate_limited_request_counts_under_its_rule(infra: Any, zora: Zora) -> None:
    settings = zora.settings.model_copy(update={"rate_messages_per_shopper": "1/minute"})
    limiter = Limiter(zora.services.redis, settings)
    subject = uuid.uuid4().hex
    before = await scrape(zora)
    await limiter.hit(("rate_messages_per_shopper", subject))
    with pytest.raises(RateLimited):
        await limiter.hit(("rate_messages_per_shopper", subject))
    after = await scrape(zora)
    assert (
        value(after, "zora_rate_limited_total", rule="rate_messages_per_shopper")
        - value(before, "zora_rate_limited_total", rule="rate_messages_per_shopper")
        == 1
    )
    assert value(after, "zora_rate_limited_total", rule="rate_sessions_per_address") == value(
        before, "zora_rate_limited_total", rule="rate_sessions_per_address"
    )


def test_shopify_errors_are_counted_by_code() -> None:
    def count(code: str) -> float:
        return metrics.SHOPIFY_API_ERRORS.labels(code)._value.get()

    before = {code: count(code) for code in ("http_401", "THROTTLED", "other", "graphql")}
    metrics.shopify_answer(401, {})
    metrics.shopify_answer(200, {"errors": [{"extensions": {"code": "THROTTLED"}}]})
    metrics.shopify_answer(200, {"errors": [{"extensions": {"code": "no such {code}"}}, {"message": "x"}]})
    metrics.shopify_answer(200, {"data": {}})
    assert {code: count(code) - before[code] for code in before} == {
        "http_401": 1,
        "THROTTLED": 1,
        "other": 1,
        "graphql": 1,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_metrics_route_is_absent_in_production_without_a_token() -> None:
    app = web.Application()
    app.router.add_get("/metrics", metrics.metrics_handler(_settings(), dev=False))
    app.router.add_get("/dev-metrics", metrics.metrics_handler(_settings(), dev=True))
    async with serving(app) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 404 and "METRICS_TOKEN" in await resp.text()
        async with http.get(f"{url}/dev-metrics") as resp:
            assert resp.status == 200 and "zora_sockets_connected" in await resp.text()


async def test_worker_metrics_endpoint_answers_and_is_off_by_default() -> None:
    assert metrics.start_metrics_server(_settings()) is None
    port = metrics.start_metrics_server(_settings(metrics_port=0))
    assert port
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        samples = parse(await resp.text())
    assert ("zora_sockets_connected", ()) in samples


async def test_temporal_sdk_metrics_on_their_own_port(infra: Any) -> None:
    assert metrics.temporal_runtime(_settings()) is None
    port = _free_port()
    runtime = metrics.temporal_runtime(_settings(temporal_metrics_port=port))
    assert runtime is not None
    client = await Client.connect(infra.temporal_address, runtime=runtime)

    async def noop() -> None:
        return None

    noop.__name__ = "noop"
    from temporalio import activity

    worker = Worker(client, task_queue=f"metrics-{uuid.uuid4().hex[:8]}", activities=[activity.defn(noop)])
    async with worker, aiohttp.ClientSession() as http:
        text = ""
        for _ in range(200):
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            if "temporal_" in text:
                break
            await asyncio.sleep(0.05)
    assert "temporal_" in text, text[:500]


def test_dashboard_and_docs_name_exactly_the_metrics_that_exist() -> None:
    import re
    from pathlib import Path

    from prometheus_client import REGISTRY

    root = Path(__file__).resolve().parents[2]
    ours = {family.name for family in REGISTRY.collect() if family.name.startswith("zora_")}
    assert len(ours) >= 10
    dashboard = json.loads((root / "docs" / "grafana-zora.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs and all(p.get("datasource") for p in dashboard["panels"] if p["type"] != "row")
    used = {re.sub(r"_(bucket|count|sum|total)$", "", n) for e in exprs for n in re.findall(r"\bzora_\w+", e)}
    # Counters are registered without their _total suffix.
    assert used == ours
    docs = (root / "docs" / "operations.md").read_text().split("## Metrics and traces", 1)[1]
    documented = {re.sub(r"_total$", "", n) for n in re.findall(r"`(zora_\w+)", docs)}
    assert ours <= documented, ours - documented


async def test_shopify_errors_from_the_admin_client_against_the_standin() -> None:
    from tests.shopify.test_admin_client import SHOP, FakeTime
    from zora.shopify.admin import CUSTOMERS_QUERY, AdminClient
    from zora.standins.shopify import ShopifyStandIn

    def count(code: str) -> float:
        return metrics.SHOPIFY_API_ERRORS.labels(code)._value.get()

    codes = ("THROTTLED", "http_429", "http_503")
    before = {code: count(code) for code in codes}
    clock = FakeTime()
    standin = ShopifyStandIn(api_key="k", api_secret="s", bucket_size=100, restore_rate=10, clock=clock.clock)
    await standin.start()
    standin.add_customer(SHOP, "Ann", "Doe", "ann@example.com")
    try:
        async with aiohttp.ClientSession() as http:
            admin = AdminClient(
                http,
                shop=SHOP,
                token=standin.issue_token(SHOP),
                api_version="2026-04",
                base_url=standin.base_url,
                sleep=clock.sleep,
                clock=clock.clock,
            )
            variables = {"first": 1, "after": None, "query": None}
            standin.throttle_next(1)
            await admin.execute(CUSTOMERS_QUERY, variables)
            standin.fail_next(429, retry_after=1)
            await admin.execute(CUSTOMERS_QUERY, variables)
            standin.fail_next(503, count=2)
            await admin.execute(CUSTOMERS_QUERY, variables)
    finally:
        await standin.stop()
    assert {code: count(code) - before[code] for code in codes} == {"THROTTLED": 1, "http_429": 1, "http_503": 2}
