"""`/zora`: agents' lists and lookups, answered only to the agent who asked (ephemeral).

Every answer is limited to the shops the asker may act for (bot/access.py). In a shop's channel a
search means that shop; anywhere else it means the one shop the asker may see, or they are asked
which (`shop:<domain>`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.access import NO_SHOP, AgentAccess, AgentShop
from bot.customers import render_results
from bot.deps import BotDeps
from bot.overview import Which, conversations, render_list
from zora.shopify.customers import CustomerNotFound
from zora.slack_text import escape

USAGE = (
    "*/zora* — what Zora can tell you here:\n"
    "• `/zora open` — open conversations\n"
    "• `/zora unassigned` — conversations nobody has claimed\n"
    "• `/zora mine` — conversations assigned to you\n"
    "• `/zora &lt;name, email, phone, tag or #order&gt;` — find a customer and their recent orders\n"
    "• add `shop:&lt;name&gt;.myshopify.com` to any of them to choose the shop"
)


async def on_zora(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
    deps: BotDeps = context["deps"]
    access = AgentAccess.of(deps)
    team, user = str(command["team_id"]), str(command["user_id"])
    words = str(command.get("text") or "").split()
    named = [w for w in words if w.lower().startswith("shop:")]
    words = [w for w in words if not w.lower().startswith("shop:")]
    if len(named) > 1:
        await ack(text="Name one shop at a time (`shop:<name>.myshopify.com`).", response_type="ephemeral")
        return
    chosen: AgentShop | None = None
    if named:
        domain = named[0].split(":", 1)[1]
        chosen = await access.shop_by_domain(team, domain) if domain else None
        if chosen is None:
            await ack(text=f"No shop called `{domain}` is served in this workspace.", response_type="ephemeral")
            return
    word = words[0].lower() if words else "help"
    if word == "help":
        await ack(text=USAGE, response_type="ephemeral")
        return
    if word in ("open", "unassigned", "mine"):
        await _lists(ack, deps, access, team, user, word, chosen)  # type: ignore[arg-type]
        return
    await _search(ack, deps, access, command, " ".join(words), chosen)


async def _lists(
    ack: AsyncAck, deps: BotDeps, access: AgentAccess, team: str, user: str, which: Which, chosen: AgentShop | None
) -> None:
    if chosen is not None:
        verdict = await access.check(team, user, chosen)
        if not verdict.allowed:
            await ack(text=verdict.reason, response_type="ephemeral")
            return
        shops: list[AgentShop] = [chosen]
        problems: list[str] = []
    else:
        shops, problems = await access.visible(team, user)
    if not shops:
        await ack(text="\n".join([NO_SHOP, *problems]), response_type="ephemeral")
        return
    total, rows = await conversations(deps.pool, team, user, which, [s.id for s in shops])
    blocks = render_list(which, total, rows)
    if problems:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(problems)}]})
    await ack(text=f"{total} conversation(s)", blocks=blocks, response_type="ephemeral")


async def _search(
    ack: AsyncAck, deps: BotDeps, access: AgentAccess, command: dict[str, Any], query: str, chosen: AgentShop | None
) -> None:
    team, user = str(command["team_id"]), str(command["user_id"])
    here = [chosen] if chosen else await access.shops_for_channel(team, str(command.get("channel_id") or ""))
    if len(here) == 1:
        # A shop's own channel (or the shop named): that shop, for its agents only.
        verdict = await access.check(team, user, here[0])
        if not verdict.allowed:
            await ack(text=verdict.reason, response_type="ephemeral")
            return
        shop = here[0]
    else:
        # Anywhere else: never "the only shop in the workspace", only a shop this person may see.
        shops, problems = await access.visible(team, user, here or None)
        if not shops:
            await ack(text="\n".join([NO_SHOP, *problems]), response_type="ephemeral")
            return
        if len(shops) > 1:
            choices = "\n".join(f"• `/zora shop:{s.domain} {escape(query, 200)}`" for s in shops)
            await ack(text=f"Which shop? You are an agent of several:\n{choices}", response_type="ephemeral")
            return
        shop = shops[0]
    if deps.directory is None:
        await ack(text="Customer data is not available in this Zora.", response_type="ephemeral")
        return
    results = await deps.directory.search(shop.id, query)
    orders = await deps.directory.recent_orders(shop.id, results[0].id) if results else []
    analytics = None
    if results:
        with contextlib.suppress(CustomerNotFound):  # deleted since the search: shown without them
            analytics = (await deps.directory.profile(shop.id, results[0].id)).analytics
    await ack(
        text=f"{len(results)} customer(s) match {escape(query, 200)}",
        blocks=render_results(query, shop.domain, results, orders, shop.id, analytics),
        response_type="ephemeral",
    )
