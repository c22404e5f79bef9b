"""Issue 10 item 3: limits on sessions, conversations, messages and uploads, counted in Redis.

A flooder is limited while another shopper and another shop go on as before. Every address here
comes through X-Forwarded-For from a trusted proxy (127.0.0.1), so each test has addresses of its own
in the one Redis of the test session.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.harness import AGENT, CHANNEL, Shopper, Zora, running_zora
from zora.app.dev import ensure_shop
from zora.limits import Limiter, RateLimited, client_address, parse_networks
from zora.settings import Settings, load_settings

PROXY = {"trusted_proxies": ["127.0.0.1/32"]}


def _address() -> str:
    # In the IPv6 documentation range (RFC 3849), a new one per call: no test shares another's counts.
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


class Client:
    """A storefront visitor at one address (the proxy in front of Zora names it in X-Forwarded-For)."""

    def __init__(self, zora: Zora, address: str) -> None:
        self.zora = zora
        self.address = address

    async def session(self, shop: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with self.zora.http.post(
            f"{self.zora.base_url}/widget/session",
            json={"shop": shop or self.zora.shop},
            headers={"X-Forwarded-For": self.address},
        ) as resp:
            return resp.status, await resp.json(), dict(resp.headers)

    async def shopper(self, shop: str | None = None) -> Shopper:
        status, body, _ = await self.session(shop)
        assert status == 200, body
        shopper = Shopper(body["token"])
        await shopper.sio.connect(
            self.zora.base_url,
            namespaces=["/widget"],
            auth={"token": body["token"]},
            transports=["websocket"],
            headers={"X-Forwarded-For": self.address},
            wait_timeout=10,
        )
        self.zora.clients.append(shopper.sio)
        assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
        return shopper


async def _rows(zora: Zora, query: str, *args: Any) -> int:
    return int((await zora.fetch(query, *args))[0][0])


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {
        **PROXY,
        "rate_sessions_per_address": "5/minute",
        "rate_conversations_per_address": "3/hour",
        "rate_messages_per_shopper": "5/minute",
        "rate_messages_per_shop": "40/minute",
    }


def test_addresses_come_from_the_proxy_header_only_behind_a_trusted_proxy() -> None:
    trusted = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    # No trusted proxy configured: the header is the client's own words, ignored.
    assert client_address("198.51.100.4", "203.0.113.9", []) == "198.51.100.4"
    # The peer is not a trusted proxy: ignored too.
    assert client_address("198.51.100.4", "203.0.113.9", trusted) == "198.51.100.4"
    # Through a trusted proxy: the address it saw, not what the client wrote to its left.
    assert client_address("10.1.2.3", "6.6.6.6, 203.0.113.9", trusted) == "203.0.113.9"
    # Several trusted hops are skipped from the right.
    assert client_address("127.0.0.1", "203.0.113.9, 10.0.0.7", trusted) == "203.0.113.9"
    # Garbage in the header never becomes an address.
    assert client_address("10.1.2.3", "not-an-ip", trusted) == "10.1.2.3"
    assert client_address("10.1.2.3", None, trusted) == "10.1.2.3"


def test_limits_are_validated_settings() -> None:
    with pytest.raises(Exception, match=r"RATE_MESSAGES_PER_SHOP: .*'lots' is not a rate"):
        load_settings(_env_file=None, rate_messages_per_shop="lots")
    with pytest.raises(Exception, match=r"RATE_SESSIONS_PER_ADDRESS: .*not a rate"):
        load_settings(_env_file=None, rate_sessions_per_address="0/minute")
    with pytest.raises(Exception, match=r"TRUSTED_PROXIES: .*'proxy' is not an IP address"):
        load_settings(_env_file=None, trusted_proxies=["proxy"])


async def test_sessions_per_address_answer_429_with_retry_after(zora: Zora) -> None:
    flooder, neighbour = Client(zora, _address()), Client(zora, _address())
    assert [(await flooder.session())[0] for _ in range(5)] == [200] * 5

    status, body, headers = await flooder.session()

    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert 0 < int(headers["Retry-After"]) <= 60 and body["error"]["retry_after"] == int(headers["Retry-After"])
    assert (await neighbour.session())[0] == 200


async def test_new_conversations_per_address_are_limited_and_nothing_of_the_refused_one_is_kept(zora: Zora) -> None:
    flooder = Client(zora, _address())
    posts_before = len(zora.standin.posted)
    opened = []
    for n in range(3):
        shopper = await flooder.shopper()
        assert (await shopper.send(f"hello {n}"))["ok"]
        opened.append(shopper)
    await zora.standin.wait_for_posts(posts_before + 6)  # a card and the message, per conversation

    fourth = await flooder.shopper()
    refused = await fourth.send("one conversation too many")

    assert refused["ok"] is False and refused["error"]["code"] == "rate_limited"
    assert isinstance(refused["error"]["retry_after"], int) and refused["error"]["retry_after"] > 0
    assert await _rows(zora, "SELECT count(*) FROM messages WHERE body = 'one conversation too many'") == 0
    # The ones it opened go on: a message in an existing conversation is no new conversation.
    assert (await opened[0].send("still here"))["ok"]
    # A shopper elsewhere opens one as usual.
    other = await Client(zora, _address()).shopper()
    assert (await other.send("hi from next door"))["ok"]
    await zora.standin.wait_for_posts(posts_before + 9)
    texts = [p["text"] for p in zora.standin.posted]
    assert "still here" in texts and "hi from next door" in texts
    assert "one conversation too many" not in texts


async def test_messages_per_shopper_are_limited_and_the_refused_one_can_be_sent_later(zora: Zora) -> None:
    talker = await Client(zora, _address()).shopper()
    neighbour = await Client(zora, _address()).shopper()
    for n in range(5):
        assert (await talker.send(f"line {n}", client_id=f"t-{n}"))["ok"]

    refused = await talker.send("line 5", client_id="t-5")

    assert refused["error"]["code"] == "rate_limited"
    assert await _rows(zora, "SELECT count(*) FROM messages WHERE client_id = 't-5'") == 0
    assert (await neighbour.send("not limited"))["ok"]


async def test_a_flooded_shop_leaves_another_shop_alone(zora: Zora) -> None:
    other_shop = f"other-{uuid.uuid4().hex[:8]}.myshopify.com"
    await ensure_shop(zora.services.pool, other_shop, "Other shop", CHANNEL)
    # Many shoppers at many addresses, each under its own limits, together over the shop's 40/minute.
    results = []
    for _ in range(9):
        shopper = await Client(zora, _address()).shopper()
        for _ in range(5):
            results.append(await shopper.send("flood"))
    refused = [r for r in results if not r["ok"]]
    assert refused and all(r["error"]["code"] == "rate_limited" for r in refused)
    assert sum(1 for r in results if r["ok"]) <= 40

    elsewhere = await Client(zora, _address()).shopper(other_shop)
    assert (await elsewhere.send("business as usual"))["ok"]


async def test_the_proxy_header_from_an_untrusted_peer_is_ignored(infra: Any, database_url: str) -> None:
    # Without TRUSTED_PROXIES, every request here comes from 127.0.0.1 whatever it claims.
    async with running_zora(infra, database_url, rate_sessions_per_address="4/minute") as zora:
        statuses = [(await Client(zora, _address()).session())[0] for _ in range(5)]
    assert statuses[:4] == [200] * 4 and statuses[4] == 429


async def test_uploads_in_flight_are_capped_per_conversation(infra: Any, database_url: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(3000)
    async with running_zora(infra, database_url, upload_bytes_in_flight_per_conversation=4096) as zora:
        token = (await zora.session())["token"]
        release = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield png[:100]
            await release.wait()
            yield png[100:]

        url = f"{zora.base_url}/widget/files"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/png", "Content-Length": str(len(png))}
        first = asyncio.create_task(zora.http.post(url, params={"name": "a.png"}, data=slow_body(), headers=headers))
        # The first holds 3,008 of the 4,096 bytes while it streams: a second of the same size is refused.
        for _ in range(200):
            async with zora.http.post(url, params={"name": "b.png"}, data=png, headers=headers) as resp:
                if resp.status == 429:
                    body = await resp.json()
                    break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("a second upload was never refused while the first streamed")
        assert body["error"]["code"] == "rate_limited" and int(resp.headers["Retry-After"]) > 0
        release.set()
        done = await first
        assert done.status == 201, await done.text()
        done.release()
        # The first finished: its bytes are free again.
        async with zora.http.post(url, params={"name": "c.png"}, data=png, headers=headers) as resp:
            assert resp.status == 201


async def test_limits_stay_open_when_redis_does_not_answer(tmp_path: Any) -> None:
    dead = aioredis.Redis.from_url(f"unix://{tmp_path}/nothing.sock", socket_connect_timeout=0.5)
    settings = Settings(_env_file=None, rate_messages_per_shopper="1/minute")  # type: ignore[call-arg]
    limiter = Limiter(dead, settings)
    try:
        # Over the limit twice, yet allowed: the counter is down, not the shop.
        await limiter.hit(("rate_messages_per_shopper", "s"))
        await limiter.hit(("rate_messages_per_shopper", "s"))
        async with limiter.in_flight("upload:x", 10, 5):
            pass
    finally:
        await dead.aclose()


async def test_a_limit_counts_across_web_nodes(infra: Any) -> None:
    # Two limiters (two web processes) on the same Redis share the count.
    settings = Settings(_env_file=None, rate_messages_per_shopper="3/minute")  # type: ignore[call-arg]
    first, second = (aioredis.Redis.from_url(infra.redis.url) for _ in range(2))
    subject = uuid.uuid4().hex
    try:
        a, b = Limiter(first, settings), Limiter(second, settings)
        await a.hit(("rate_messages_per_shopper", subject))
        await b.hit(("rate_messages_per_shopper", subject))
        await a.hit(("rate_messages_per_shopper", subject))
        with pytest.raises(RateLimited) as refused:
            await b.hit(("rate_messages_per_shopper", subject))
        assert refused.value.retry_after >= 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_slash_commands_are_limited_per_user(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, rate_slash_commands_per_user="2/minute") as zora:
        zora.standin.add_user("U0OTHER001", "bo", "Bo Agent")
        answers = [await zora.standin.slash_command("/zora", "open", user=AGENT, channel=CHANNEL) for _ in range(3)]
        other = await zora.standin.slash_command("/zora", "open", user="U0OTHER001", channel=CHANNEL)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert "Too many /zora commands" not in str(answers[1][1])
    assert answers[2][1]["response_type"] == "ephemeral"
    assert answers[2][1]["text"].startswith("Too many /zora commands at once; try again in")
    assert "Too many" not in str(other[1])


async def test_webhooks_are_limited_per_shop_and_the_refused_one_is_not_stored(infra: Any, database_url: str) -> None:
    from tests.shopify.harness import running_shopify

    async with running_shopify(infra, database_url, rate_webhooks_per_shop="3/minute") as sz:
        other = f"other-{uuid.uuid4().hex[:8]}.myshopify.com"
        await ensure_shop(sz.zora.services.pool, other, "Other shop", CHANNEL)
        sent = [await sz.send("products/delete", {"id": n}) for n in range(4)]
        elsewhere = await sz.send("products/delete", {"id": 99}, shop=other)
        refused_id = sent[3][2]
        stored = await sz.fetch("SELECT id FROM shopify_webhooks WHERE id = $1", refused_id)
    assert [status for status, _, _ in sent] == [200, 200, 200, 429]
    assert sent[3][1]["status"] == "rate_limited" and sent[3][1]["retry_after"] > 0
    assert stored == []
    assert elsewhere[0] == 200


async def test_several_rules_are_counted_in_order_and_read_back_by_the_library(infra: Any) -> None:
    # One call counts every rule in one script; the library (which reports retry-after and which
    # other code may read) must see the same windows, and a refusal leaves the rules after it uncounted.
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        rate_messages_per_shopper="5/minute",
        rate_messages_per_conversation="2/minute",
        rate_messages_per_shop="10/minute",
    )
    redis = aioredis.Redis.from_url(infra.redis.url)
    subject = uuid.uuid4().hex
    hits = (
        ("rate_messages_per_shopper", subject),
        ("rate_messages_per_conversation", subject),
        ("rate_messages_per_shop", subject),
    )
    try:
        limiter = Limiter(redis, settings)
        await limiter.hit(*hits)
        await limiter.hit(*hits)
        with pytest.raises(RateLimited) as refused:
            await limiter.hit(*hits)
        assert refused.value.rule == "rate_messages_per_conversation" and refused.value.retry_after >= 1
        remaining = {
            rule: (await limiter._limiter.get_window_stats(limiter._items[rule], rule, subject)).remaining
            for rule, _ in hits
        }
        # Shopper counted three times (the refused call too, it comes first), conversation twice (its
        # refusal takes nothing), shop twice (after the refusal: not counted).
        assert remaining == {
            "rate_messages_per_shopper": 2,
            "rate_messages_per_conversation": 0,
            "rate_messages_per_shop": 8,
        }
    finally:
        await redis.aclose()
