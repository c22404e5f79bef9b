"""Limits on what Slack users can make Zora do (zora/limits.py counts them in Redis)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp

from zora.limits import Limiter, RateLimited

Next = Callable[[], Awaitable[None]]


def register_rate_limits(app: AsyncApp, limiter: Limiter) -> None:
    @app.middleware
    async def limit_slash_commands(body: dict[str, Any], next: Next) -> BoltResponse | None:
        # A /zora search reads Shopify data and may call Shopify: per user, so one script (or one
        # stuck key) cannot hammer the shop's customers or Slack for everyone.
        if not body.get("command"):
            await next()
            return None
        try:
            await limiter.hit(("rate_slash_commands_per_user", f"{body.get('team_id', '')}:{body.get('user_id', '')}"))
        except RateLimited as exc:
            answer = {
                "response_type": "ephemeral",
                "text": f"Too many {body['command']} commands at once; try again in {exc.retry_after} s.",
            }
            return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
        await next()
        return None
