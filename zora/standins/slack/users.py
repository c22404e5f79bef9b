"""Who is who: ``auth.test``, ``users.info`` (with an avatar the stand-in draws), ``users.getPresence``
and ``usergroups.users.list``."""

from __future__ import annotations

import hashlib
import html
from typing import Any
from urllib.parse import quote

from aiohttp import web

from zora.standins.slack.workspace import ApiError, Workspace

_AVATAR_SIZES = ("24", "32", "48", "72", "192", "512")


class Users(Workspace):
    """auth.test, users.*, usergroups.users.list and the avatars users.info links to."""

    async def _auth_test(self, _params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"{request.url.origin()}/",
            "team": self.team_name,
            "user": self._users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def set_presence(self, user: str, presence: str) -> None:
        """'active' or 'away', as users.getPresence will report it."""
        self._presence[user] = presence

    async def _users_get_presence(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "user")
        user = str(params["user"])
        if user not in self._users:
            raise ApiError("user_not_found")
        return {"ok": True, "presence": self._presence.get(user, "active")}

    async def _users_info(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        self._require(params, "user")
        user = self._users.get(str(params["user"]))
        if user is None:
            raise ApiError("user_not_found")
        avatar = f"{request.url.origin()}/dev/slack/avatar/{quote(user.id)}.svg"
        profile: dict[str, Any] = {
            "avatar_hash": hashlib.sha1(user.id.encode()).hexdigest()[:12],
            "status_text": "",
            "status_emoji": "",
            "real_name": user.display_name,
            "display_name": user.display_name,
            "real_name_normalized": user.display_name,
            "display_name_normalized": user.display_name,
        }
        if not user.is_bot:
            profile["email"] = f"{user.name}@example.com"
        profile["image_original"] = avatar
        profile.update({f"image_{size}": avatar for size in _AVATAR_SIZES})
        profile["team"] = self.team_id
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "deleted": False,
                "color": hashlib.sha1(user.id.encode()).hexdigest()[:6],
                "real_name": user.display_name,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": profile,
                "is_admin": False,
                "is_owner": False,
                "is_primary_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": user.is_bot,
                "updated": user.updated,
                "is_app_user": False,
                "has_2fa": False,
            },
        }

    async def _usergroups_users_list(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """The users of a user group, all at once (Slack does not page this method)."""
        refused = self._missing_scope("usergroups:read")
        if refused is not None:
            return refused
        self._require(params, "usergroup")
        users = self._usergroups.get(str(params["usergroup"]))
        if users is None:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(users)}

    async def _handle_avatar(self, request: web.Request) -> web.Response:
        user = self._users.get(request.match_info["user"])
        label = (user.display_name if user else "?")[:1].upper() or "?"
        hue = int(hashlib.sha1(request.match_info["user"].encode()).hexdigest()[:2], 16) * 360 // 256
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72">'
            f'<rect width="72" height="72" rx="12" fill="hsl({hue},55%,45%)"/>'
            '<text x="36" y="47" font-family="sans-serif" font-size="32" text-anchor="middle" fill="#fff">'
            f"{html.escape(label)}</text></svg>"
        )
        return web.Response(text=svg, content_type="image/svg+xml")
