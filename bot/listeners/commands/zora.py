"""`/zora`: agents' lists and lookups, answered only to the agent who asked (ephemeral)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.deps import BotDeps
from bot.overview import Which, conversations, render_list

USAGE = (
    "*/zora* — what Zora can tell you here:\n"
    "• `/zora open` — open conversations\n"
    "• `/zora unassigned` — conversations nobody has claimed\n"
    "• `/zora mine` — conversations assigned to you"
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
    await ack(text=f"I don't know `{word}`.\n{USAGE}", response_type="ephemeral")
