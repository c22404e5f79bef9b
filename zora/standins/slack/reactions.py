"""Reactions: ``reactions.add`` by the bot, and a person's ``reaction_added`` event."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from zora.standins.slack.delivery import Delivery
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, ApiError


class Reactions(Delivery):
    """reactions.add and people's reactions."""

    async def _reactions_add(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "timestamp", "name")
        message = self._messages[channel].get(str(params["timestamp"]))
        if message is None:
            raise ApiError("message_not_found")
        name = str(params["name"])
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {"ok": True}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {"ok": True}

    async def react(self, channel: str, ts: str, name: str, user: str = DEFAULT_AGENT_ID) -> int:
        """A person adds a reaction to a message: the reaction_added event, delivered to Zora."""
        message = self._messages.get(channel, {}).get(ts)
        event = {
            "type": "reaction_added",
            "user": user,
            "reaction": name,
            "item_user": (message or {}).get("user", ""),
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        }
        return await self.deliver_event(event)
