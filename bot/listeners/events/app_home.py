"""The App Home tab: the same overview as `/zora`, always at hand."""

from __future__ import annotations

from typing import Any, get_args

from slack_bolt.async_app import AsyncBoltContext

from bot.deps import BotDeps
from bot.overview import Which, conversations, render_list


async def on_app_home_opened(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    deps: BotDeps = context["deps"]
    user = str(event["user"])
    team = str(body.get("team_id") or context.team_id or "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Zora: shoppers waiting for you"}},
    ]
    for which in get_args(Which):
        total, rows = await conversations(deps.pool, team, user, which)
        blocks.extend(render_list(which, total, rows))
        blocks.append({"type": "divider"})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Type `/zora` in any channel for the same lists."}]}
    )
    await deps.slack.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
