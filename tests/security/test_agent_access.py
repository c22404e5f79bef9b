"""Issue 10 item 4: only a shop's agents act for it in Slack.

Two shops in one workspace (one Slack stand-in, a channel each). A shop's agents are the members of
its channel, or of a user group it names; nobody else may search or edit its customers, press its
buttons, or see its conversations, from its channel, another shop's channel or a DM.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.service import RPCError

from bot.access import NO_SHOP
from tests.harness import AGENT, CHANNEL, Zora, running_zora
from zora import db
from zora.app.dev import ensure_shop
from zora.models import conversation_workflow_id
from zora.shop_settings import ShopSettings

CHANNEL_B = "C0SHOPB001"
DM = "D0DIRECT01"
ALICE = "U0ALICE001"  # shop A's agent only
BOB = "U0BOB00001"  # shop B's agent only
CARA = "U0CARA0001"  # both shops' agent
DAN = "U0DAN00001"  # a member of the workspace, agent of neither
ERIN = "U0ERIN0001"  # in shop B's agents user group, in no channel
GROUP_B = "S0BAGENTS1"


@dataclass
class World:
    zora: Zora
    shop_a: str
    shop_b: str
    shop_b_id: int
    card_a: str  # ts of shop A's conversation card in CHANNEL
    card_b: str  # ts of shop B's conversation card in CHANNEL_B
    conversation_b: str
    customer_b: int


async def _people(z: Zora) -> None:
    for user, name in ((ALICE, "alice"), (BOB, "bob"), (CARA, "cara"), (DAN, "dan"), (ERIN, "erin")):
        z.standin.add_user(user, name, name.title())
    z.standin.add_channel(CHANNEL_B, "support-b")
    z.standin.add_channel(DM, "directmessage")
    bot = z.standin.bot_user_id
    z.standin.set_channel_members(CHANNEL, [bot, AGENT, ALICE, CARA])
    z.standin.set_channel_members(CHANNEL_B, [bot, BOB, CARA])


async def _card(z: Zora, shop: str, channel: str, text: str) -> tuple[str, str]:
    """A shopper of `shop` writes: (the card's ts in `channel`, the conversation id)."""
    session = await z.session(shop=shop)
    shopper = await z.shopper(session["token"])
    before = len(z.standin.posted)
    assert (await shopper.send(text))["ok"]
    # Posts of an earlier conversation may still be arriving: wait for this one's card.
    wanted = before + 1
    while True:
        posts = await z.standin.wait_for_posts(wanted)
        roots = [p for p in posts[before:] if p["channel"] == channel and not p["thread_ts"]]
        if roots:
            return str(roots[0]["ts"]), str(session["conversation_id"])
        wanted = len(posts) + 1


async def _customer(z: Zora, shop_id: int, shopify_id: int, name: str, email: str) -> int:
    async with z.services.pool.acquire() as conn:
        customer_id: int = await conn.fetchval(
            "INSERT INTO customers (shop_id, shopify_customer_id, name, email, phone) VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id",
            shop_id,
            shopify_id,
            name,
            email,
            f"+44 20 7946 {shopify_id:04d}",
        )
    return customer_id


@pytest.fixture(scope="module")
async def world(infra: Any, database_url: str) -> AsyncIterator[World]:
    # A long cache: within this module a membership change must not be what a test depends on.
    async with running_zora(infra, database_url, slack_access_cache_seconds=3600) as z:
        await _people(z)
        shop_b = f"shop-b-{uuid.uuid4().hex[:8]}.myshopify.com"
        shop_b_id = await ensure_shop(z.services.pool, shop_b, "Shop B", CHANNEL_B)
        await _customer(z, z.shop_id, 1001, "Ada Alpha", "ada@alpha.example")
        customer_b = await _customer(z, shop_b_id, 2001, "Bea Beta", "bea@beta.example")
        card_a, _ = await _card(z, z.shop, CHANNEL, "hello shop A")
        card_b, conversation_b = await _card(z, shop_b, CHANNEL_B, "hello shop B")
        yield World(z, z.shop, shop_b, shop_b_id, card_a, card_b, conversation_b, customer_b)


async def _command(z: Zora, text: str, user: str, channel: str) -> dict[str, Any]:
    status, answer = await z.standin.slash_command("/zora", text, user=user, channel=channel)
    assert status == 200 and isinstance(answer, dict), answer
    assert answer.get("response_type") == "ephemeral"
    return answer


def _shown(answer: dict[str, Any]) -> str:
    return json.dumps([answer.get("text"), answer.get("blocks")])


async def _row(z: Zora, conversation_id: str) -> dict[str, Any]:
    rows = await z.fetch("SELECT status, assignee FROM conversations WHERE id = $1::uuid", conversation_id)
    return dict(rows[0])


async def test_an_agent_of_shop_a_cannot_search_shop_b_from_anywhere(world: World) -> None:
    z = world.zora
    # Her own shop, from its channel: found, with contact details.
    own = _shown(await _command(z, "ada@alpha.example", ALICE, CHANNEL))
    assert "Ada Alpha" in own and "ada@alpha.example" in own

    # Shop B's channel: refused, saying who may, and nothing of shop B's customers.
    there = await _command(z, "bea@beta.example", ALICE, CHANNEL_B)
    assert there["text"] == f"Only {world.shop_b}'s agents may do that: members of <#{CHANNEL_B}>."
    assert "Bea" not in _shown(there) and "blocks" not in there

    # A DM: the one shop she may see is A, never "the only shop" or B.
    dm = _shown(await _command(z, "bea@beta.example", ALICE, DM))
    assert f"No customer of {world.shop_a} matches" in dm and "Bea" not in dm and world.shop_b not in dm

    # Naming shop B does not help, from a DM or from her own shop's channel.
    for channel in (DM, CHANNEL):
        named = await _command(z, f"shop:{world.shop_b} bea@beta.example", ALICE, channel)
        assert named["text"].startswith(f"Only {world.shop_b}'s agents") and "Bea" not in _shown(named)


async def test_someone_in_neither_shop_gets_nothing(world: World) -> None:
    z = world.zora
    for channel in (CHANNEL, CHANNEL_B, DM):
        answer = _shown(await _command(z, "beta", DAN, channel))
        assert "Ada" not in answer and "Bea" not in answer and "@" not in answer.replace("<@", "")
    assert (await _command(z, "ada", DAN, DM))["text"] == NO_SHOP
    for which in ("open", "unassigned", "mine"):
        listed = await _command(z, which, DAN, DM)
        assert listed["text"] == NO_SHOP and "slack.com/archives" not in _shown(listed)
    assert await z.standin.open_app_home(DAN) == 200
    home = json.dumps(z.standin.home_views[DAN]["blocks"])
    assert "not an agent of any shop" in home and "slack.com/archives" not in home


async def test_lists_and_the_app_home_show_only_the_shops_one_may_see(world: World) -> None:
    z = world.zora
    alice = _shown(await _command(z, "open", ALICE, DM))
    assert world.shop_a in alice and world.shop_b not in alice and world.card_b.replace(".", "") not in alice
    assert "Open conversations* (1)" in alice
    bob = _shown(await _command(z, "unassigned", BOB, CHANNEL))
    assert world.shop_b in bob and world.shop_a not in bob
    cara = _shown(await _command(z, "open", CARA, DM))
    assert world.shop_a in cara and world.shop_b in cara and "Open conversations* (2)" in cara

    assert await z.standin.open_app_home(ALICE) == 200
    home = json.dumps(z.standin.home_views[ALICE]["blocks"])
    assert world.shop_a in home and world.shop_b not in home and world.card_b.replace(".", "") not in home


async def test_another_shops_buttons_change_nothing_and_reach_no_workflow(world: World) -> None:
    z = world.zora
    for user in (ALICE, DAN):
        for action in ("zora_claim", "zora_resolve"):
            before = len(z.standin.ephemeral)
            assert await z.standin.press_button(CHANNEL_B, world.card_b, action, "-", user=user) == 200
            told = z.standin.ephemeral[before:]
            assert [(t["user"], t["text"]) for t in told] == [
                (user, f"Only {world.shop_b}'s agents may do that: members of <#{CHANNEL_B}>.")
            ]
            assert await _row(z, world.conversation_b) == {"status": "open", "assignee": None}

    # A closed conversation: a refused Reopen must not even start its workflow again.
    handle = z.services.temporal.get_workflow_handle(
        conversation_workflow_id(world.shop_b, uuid.UUID(world.conversation_b))
    )
    # The workflow starts in the background, off the shopper's path: close it once it runs.
    for _ in range(200):
        try:
            await handle.describe()
            break
        except RPCError:
            await asyncio.sleep(0.05)
    await handle.signal("close", {"reason": "test"})
    await handle.result()
    closed_run = (await handle.describe()).run_id
    assert (await _row(z, world.conversation_b))["status"] == "closed"
    assert await z.standin.press_button(CHANNEL_B, world.card_b, "zora_reopen", "-", user=ALICE) == 200
    assert (await handle.describe()).run_id == closed_run
    assert (await _row(z, world.conversation_b))["status"] == "closed"

    # Shop B's own agent may (the refusals above were about who pressed, not about the buttons).
    assert await z.standin.press_button(CHANNEL_B, world.card_b, "zora_reopen", "-", user=BOB) == 200
    for _ in range(600):
        if (await _row(z, world.conversation_b))["status"] == "open":
            break
        await asyncio.sleep(0.05)
    assert (await _row(z, world.conversation_b))["status"] == "open"
    assert await z.standin.press_button(CHANNEL_B, world.card_b, "zora_claim", "-", user=BOB) == 200
    assert await _row(z, world.conversation_b) == {"status": "assigned", "assignee": BOB}


async def test_another_shops_customer_cannot_be_edited(world: World) -> None:
    z = world.zora
    value = f"{world.shop_b_id}:{world.customer_b}"
    for channel in (CHANNEL, CHANNEL_B, DM):
        before = len(z.standin.ephemeral)
        assert await z.standin.press_button(channel, None, "zora_edit_customer", value, user=ALICE) == 200
        assert z.standin.ephemeral[before:][0]["text"].startswith(f"Only {world.shop_b}'s agents")
    assert z.standin.views == {}

    # Shop B's agent opens the modal; a save by anyone else is refused and writes nothing.
    result = await _command(z, "bea@beta.example", BOB, CHANNEL_B)
    button = next(b["accessory"] for b in result["blocks"] if b.get("accessory"))
    assert button["value"] == value
    assert await z.standin.press_button(CHANNEL_B, None, button["action_id"], button["value"], user=BOB) == 200
    ((view_id, _),) = z.standin.views.items()
    for user in (ALICE, DAN):
        status, answer = await z.standin.submit_view(
            view_id, {"note": {"value": "pwned"}, "tags": {"value": "pwned"}}, user=user
        )
        assert status == 200 and answer["response_action"] == "errors"
        assert answer["errors"]["note"].startswith(f"Not saved. Only {world.shop_b}'s agents")
    rows = await z.fetch("SELECT note, tags FROM customers WHERE id = $1", world.customer_b)
    assert rows[0]["note"] is None and list(rows[0]["tags"] or []) == []


async def test_an_agent_of_both_shops_is_asked_which_outside_their_channels(world: World) -> None:
    z = world.zora
    asked = await _command(z, "bea@beta.example", CARA, DM)
    assert asked["text"].startswith("Which shop?") and "blocks" not in asked
    assert f"/zora shop:{world.shop_a} bea@beta.example" in asked["text"]
    assert f"/zora shop:{world.shop_b} bea@beta.example" in asked["text"]
    chosen = _shown(await _command(z, f"shop:{world.shop_b} bea@beta.example", CARA, DM))
    assert "Bea Beta" in chosen and "bea@beta.example" in chosen
    # In a shop's channel that shop is meant, without asking.
    here = _shown(await _command(z, "ada@alpha.example", CARA, CHANNEL))
    assert "Ada Alpha" in here


async def test_the_user_group_a_shop_names_makes_its_members_agents(world: World) -> None:
    z = world.zora
    z.standin.set_usergroup(GROUP_B, [ERIN])
    assert (await _command(z, "bea@beta.example", ERIN, DM))["text"] == NO_SHOP
    async with z.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE shops SET settings = settings || $2::jsonb WHERE id = $1",
            world.shop_b_id,
            {"agents_usergroup": GROUP_B},
        )
    try:
        found = _shown(await _command(z, "bea@beta.example", ERIN, DM))
        assert "Bea Beta" in found and world.shop_a not in found
        listed = _shown(await _command(z, "open", ERIN, DM))
        assert world.shop_b in listed and world.shop_a not in listed
        # The group adds agents to shop B; it does not open shop A, nor shop B to others.
        refused = await _command(z, f"shop:{world.shop_a} ada", ERIN, DM)
        assert refused["text"] == f"Only {world.shop_a}'s agents may do that: members of <#{CHANNEL}>."
        assert (await _command(z, "bea@beta.example", DAN, DM))["text"] == NO_SHOP
        assert "user group" in (await _command(z, f"shop:{world.shop_b} bea", DAN, DM))["text"]
    finally:
        async with z.services.pool.acquire() as conn:
            await conn.execute(
                "UPDATE shops SET settings = settings - 'agents_usergroup' WHERE id = $1", world.shop_b_id
            )


def test_the_agents_user_group_setting_is_validated() -> None:
    assert ShopSettings(agents_usergroup="S0BAGENTS1").agents_usergroup == "S0BAGENTS1"
    for bad in ("everyone", "U0ALICE001", "<!subteam^S01>", "s0lower", ""):
        with pytest.raises(ValidationError):
            ShopSettings(agents_usergroup=bad)


async def test_slack_errors_refuse_with_a_clear_reason(world: World) -> None:
    z = world.zora
    # A third shop, so its channel's members are not cached yet.
    channel_c = "C0SHOPC001"
    z.standin.add_channel(channel_c, "support-c")
    shop_c = f"shop-c-{uuid.uuid4().hex[:8]}.myshopify.com"
    shop_c_id = await ensure_shop(z.services.pool, shop_c, "Shop C", channel_c)
    await _customer(z, shop_c_id, 3001, "Cy Gamma", "cy@gamma.example")
    try:
        z.standin.fail("conversations.members", "fetch_members_failed")
        failed = await _command(z, "cy@gamma.example", AGENT, channel_c)
        assert failed["text"] == (
            f"Zora could not check who may act for {shop_c}: Slack answered `fetch_members_failed`;"
            " please try again in a moment."
        )
        z.standin.rate_limit("conversations.members", retry_after=7)
        limited = await _command(z, "cy@gamma.example", AGENT, channel_c)
        assert "Slack is limiting Zora's requests; please try again in 7 seconds." in limited["text"]

        # An app installed before the scopes existed: say which one and how to get it.
        z.standin.scopes = tuple(s for s in z.standin.scopes if s != "channels:read")
        scoped = await _command(z, "cy@gamma.example", AGENT, channel_c)
        assert "lacks the `channels:read` scope" in scoped["text"] and "slack/manifest.yml" in scoped["text"]
        for failure in (failed, limited, scoped):
            assert "Cy Gamma" not in _shown(failure)
        # A DM lists what could not be checked rather than hiding it.
        assert f"Zora could not check who may act for {shop_c}" in _shown(await _command(z, "open", AGENT, DM))

        # Nothing of the failures was remembered: once Slack answers, the agent is let in.
        z.standin.scopes = tuple(dict.fromkeys([*z.standin.scopes, "channels:read"]))
        assert "Cy Gamma" in _shown(await _command(z, "cy@gamma.example", AGENT, channel_c))
    finally:
        z.standin.scopes = tuple(dict.fromkeys([*z.standin.scopes, "channels:read"]))
        async with z.services.pool.acquire() as conn:
            await conn.execute("DELETE FROM shops WHERE id = $1", shop_c_id)


async def test_members_are_read_in_pages_and_remembered(world: World) -> None:
    z = world.zora
    crowd = [f"U0CROWD{i:03d}" for i in range(450)]
    for user in crowd:
        z.standin.add_user(user, user.lower(), user)
    channel_d = "C0SHOPD001"
    z.standin.add_channel(channel_d, "support-d")
    # The agent who searches is on the third page (Zora asks for 200 at a time).
    z.standin.set_channel_members(channel_d, [z.standin.bot_user_id, *crowd])
    shop_d = f"shop-d-{uuid.uuid4().hex[:8]}.myshopify.com"
    shop_d_id = await ensure_shop(z.services.pool, shop_d, "Shop D", channel_d)
    try:
        asked = len([c for c in z.standin.calls if c[0] == "conversations.members"])
        answer = _shown(await _command(z, "nobody@example.com", crowd[-1], channel_d))
        assert f"No customer of {shop_d} matches" in answer
        pages = [c for c in z.standin.calls if c[0] == "conversations.members"][asked:]
        assert len(pages) == 3 and all(p[1]["channel"] == channel_d for p in pages)
        # Within the cache's time, other agents of that shop cost no call to Slack.
        assert f"No customer of {shop_d} matches" in _shown(await _command(z, "x", crowd[0], channel_d))
        assert len([c for c in z.standin.calls if c[0] == "conversations.members"]) == asked + 3
    finally:
        async with z.services.pool.acquire() as conn:
            await conn.execute("DELETE FROM shops WHERE id = $1", shop_d_id)


async def test_someone_removed_from_the_channel_loses_access_once_the_cache_expires(infra: Any) -> None:
    # Its own database, so its short-lived cache and its single shop touch no other test.
    url = infra.postgres.ensure_database(f"t_agent_access_ttl_{secrets.token_hex(3)}")
    await db.migrate(url)
    async with running_zora(infra, url, slack_access_cache_seconds=0.2) as z:
        z.standin.add_user(ALICE, "alice", "Alice")
        z.standin.add_channel(DM, "directmessage")
        z.standin.set_channel_members(CHANNEL, [z.standin.bot_user_id, ALICE])
        await _customer(z, z.shop_id, 1001, "Ada Alpha", "ada@alpha.example")
        assert "Ada Alpha" in _shown(await _command(z, "ada@alpha.example", ALICE, CHANNEL))

        z.standin.set_channel_members(CHANNEL, [z.standin.bot_user_id])
        # Lost within the cache's time: wait for it, with a generous bound, never a fixed sleep.
        async with asyncio.timeout(30):
            while True:
                answer = await _command(z, "ada@alpha.example", ALICE, DM)
                if answer["text"] == NO_SHOP:
                    break
                assert "Ada Alpha" in _shown(answer), answer
                await asyncio.sleep(0.05)
        refused = await _command(z, "ada@alpha.example", ALICE, CHANNEL)
        assert refused["text"] == f"Only {z.shop}'s agents may do that: members of <#{CHANNEL}>."


async def test_the_standin_answers_membership_methods_as_slack_does(world: World) -> None:
    """What the access checks rely on: Slack's paging, and its errors for bad input."""
    from slack_sdk.errors import SlackApiError

    slack = world.zora.services.slack
    first = await slack.conversations_members(channel=CHANNEL_B, limit=2)
    assert first["members"] == [world.zora.standin.bot_user_id, BOB]
    rest = await slack.conversations_members(
        channel=CHANNEL_B, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert rest["members"] == [CARA] and rest["response_metadata"]["next_cursor"] == ""
    for call, error in (
        (slack.conversations_members(channel="C0NOWHERE1"), "channel_not_found"),
        (slack.conversations_members(channel=CHANNEL_B, cursor="not-a-cursor"), "invalid_cursor"),
        (slack.conversations_members(channel=CHANNEL_B, limit=0), "invalid_limit"),
        (slack.usergroups_users_list(usergroup="S0NOWHERE1"), "no_such_subteam"),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call
        assert raised.value.response["error"] == error


async def test_a_user_group_that_does_not_exist_lets_nobody_in_and_says_so(world: World) -> None:
    z = world.zora
    async with z.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE shops SET settings = settings || $2::jsonb WHERE id = $1",
            world.shop_b_id,
            {"agents_usergroup": "S0GONE0001"},
        )
    try:
        answer = await _command(z, f"shop:{world.shop_b} bea", ERIN, DM)
        assert answer["text"] == (
            f"Zora could not check who may act for {world.shop_b}:"
            " the user group named in the shop's settings does not exist."
        )
        # Its channel's members still are its agents.
        assert "Bea Beta" in _shown(await _command(z, "bea@beta.example", BOB, CHANNEL_B))
    finally:
        async with z.services.pool.acquire() as conn:
            await conn.execute(
                "UPDATE shops SET settings = settings - 'agents_usergroup' WHERE id = $1", world.shop_b_id
            )
