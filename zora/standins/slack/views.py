"""Surfaces: modals (``views.open``, a person submitting one) and the App Home tab (``views.publish``,
a person opening it)."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from aiohttp import web

from zora.standins.slack.delivery import Delivery, form_payload
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, ApiError, StandInError


class Views(Delivery):
    """views.* methods, modal submissions and the App Home tab."""

    async def _views_open(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "trigger_id", "view")
        view = self._json_param(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal" or "title" not in view:
            raise ApiError("invalid_arguments")
        stored = {
            "id": f"V{secrets.token_hex(5).upper()}",
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "state": {"values": {}},
            **view,
        }
        self.views[stored["id"]] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    async def submit_view(
        self, view_id: str, values: dict[str, dict[str, str]], user: str = DEFAULT_AGENT_ID
    ) -> tuple[int, Any]:
        """The user presses Submit on a modal with these plain-text input values ({block_id:
        {action_id: text}}): the signed view_submission delivery; returns Zora's status and answer."""
        if self.events_url is None or self._session is None:
            raise StandInError("the stand-in must be running with events_url set to deliver views")
        view = copy.deepcopy(self.views[view_id])
        view["state"] = {
            "values": {
                block: {action: {"type": "plain_text_input", "value": text} for action, text in actions.items()}
                for block, actions in values.items()
            }
        }
        payload = {**self._interaction("view_submission", user), "view": view, "response_urls": []}
        return await self._post_form(form_payload(payload))

    async def _views_publish(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "user_id", "view")
        view = self._json_param(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise ApiError("invalid_arguments")
        user = str(params["user_id"])
        if user not in self._users:
            raise ApiError("user_not_found")
        stored = {
            "id": f"V{secrets.token_hex(5).upper()}",
            "team_id": self.team_id,
            "type": "home",
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self.home_views[user] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    async def open_app_home(self, user: str = DEFAULT_AGENT_ID) -> int:
        """The user opens the app's Home tab: an app_home_opened event."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D{secrets.token_hex(4).upper()}",
            "event_ts": f"{time.time():.6f}",
            "tab": "home",
        }
        if user in self.home_views:
            event["view"] = copy.deepcopy(self.home_views[user])
        return await self.deliver_event(event)
