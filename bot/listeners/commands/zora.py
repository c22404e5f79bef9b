"""`/zora`: agents' lists and lookups, answered only to the agent who asked (ephemeral)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.customers import render_results, shop_for_channel
from bot.deps import BotDeps
from bot.overview import Which, conversations, render_list
from zora.slack_text import escape

USAGE = (
    "*/zora* — what Zora can tell you here:\n"
    "• `/zora open` — open conversations\n"
    "• `/zora unassigned` — conversations nobody has claimed\n"
    "• `/zora mine` — conversations assigned to you\n"
    "• `/zora &lt;name, email, phone, tag or #order&gt;` — find a customer and their recent orders"
)


async def on_zora(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
    deps: BotDeps = context["deps"]
    text = str(command.get("text") or "").strip()
    word = text.split(maxsplit=1)[0].lower() if text else "help"
    if word in ("open", "unassigned", "mine"):
        which: Which = word  # type: ignore[assignment]
        total, rows = await conversations(deps.pool, str(command["team_id"]), str(command["user_id"]), which)
        blocks = render_list(which, total, rows)
        await ack(text=f"{total} conversation(s)", blocks=blocks, response_type="ephemeral")
        return
    if word == "help":
        await ack(text=USAGE, response_type="ephemeral")
        return
    await _search(ack, deps, command, text)


async def _search(ack: AsyncAck, deps: BotDeps, command: dict[str, Any], query: str) -> None:
    shop = await shop_for_channel(deps.pool, str(command["team_id"]), str(command.get("channel_id") or ""))
    if shop is None or deps.directory is None:
        await ack(text="Run /zora in a shop's support channel to search its customers.", response_type="ephemeral")
        return
    shop_id, domain = shop
    results = await deps.directory.search(shop_id, query)
    orders = await deps.directory.recent_orders(shop_id, results[0].id) if results else []
    await ack(
        text=f"{len(results)} customer(s) match {escape(query, 200)}",
        blocks=render_results(query, domain, results, orders),
        response_type="ephemeral",
    )
