"""The App Home tab: the same overview as `/zora`, always at hand, for the shops the viewer may see."""

from __future__ import annotations

from typing import Any, get_args

from slack_bolt.async_app import AsyncBoltContext

from bot.access import NO_SHOP, AgentAccess
from bot.deps import BotDeps
from bot.overview import Which, conversations, render_list


async def on_app_home_opened(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    deps: BotDeps = context["deps"]
    user = str(event["user"])
    team = str(body.get("team_id") or context.team_id or "")
    shops, problems = await AgentAccess.of(deps).visible(team, user)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Zora: shoppers waiting for you"}},
    ]
    if not shops:
        # Published all the same: a Home tab left as it was could still show a former agent the lists.
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([NO_SHOP, *problems])}})
        await deps.slack.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
        return
    for which in get_args(Which):
        total, rows = await conversations(deps.pool, team, user, which, [s.id for s in shops])
        blocks.extend(render_list(which, total, rows))
        blocks.append({"type": "divider"})
    if problems:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(problems)}]})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Type `/zora` in any channel for the same lists."}]}
    )
    await deps.slack.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
