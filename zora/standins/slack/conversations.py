"""Channels and their history: ``conversations.info``, ``.members``, ``.replies`` and ``.history``,
paged as Slack pages them."""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web

from zora.standins.slack.workspace import ApiError, Workspace, ts_key


def _as_read(messages: list[dict[str, Any]], with_metadata: bool) -> list[dict[str, Any]]:
    """Copies of messages as a read method returns them: ``metadata`` only when asked for."""
    out = [copy.deepcopy(message) for message in messages]
    if not with_metadata:
        for message in out:
            message.pop("metadata", None)
    return out


class Conversations(Workspace):
    """conversations.* methods: a channel, its members, its history and threads."""

    async def _conversations_info(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channels[self._channel(params)]
        empty_topic = {"value": "", "creator": "", "last_set": 0}
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_mpim": False,
                "is_private": channel.is_private,
                "created": channel.created,
                "is_archived": channel.is_archived,
                "is_general": False,
                "name_normalized": channel.name,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "creator": self.bot_user_id,
                "is_member": self.bot_user_id in self._members.get(channel.id, []),
                "topic": dict(empty_topic),
                "purpose": dict(empty_topic),
            },
        }

    async def _conversations_list(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """Channels the bot can see, by name, paged as Slack pages them (``limit``, an opaque cursor):
        public ones (channels:read) and the private ones it is in (groups:read), per ``types``."""
        types = set(str(params.get("types") or "public_channel").split(","))
        exclude_archived = str(params.get("exclude_archived", "")).lower() in ("1", "true")
        needed = [("public_channel", "channels:read"), ("private_channel", "groups:read")]
        for kind, scope in needed:
            refused = self._missing_scope(scope) if kind in types else None
            if refused is not None:
                return refused
        seen = [
            c
            for c in sorted(self._channels.values(), key=lambda c: c.id)
            if ("private_channel" if c.is_private else "public_channel") in types
            and (not c.is_private or self.bot_user_id in self._members.get(c.id, []))
            and not (exclude_archived and c.is_archived)
        ]
        try:
            limit = min(max(int(params.get("limit") or 100), 1), 1000)
        except ValueError:
            raise ApiError("invalid_limit") from None
        start = 0
        cursor = str(params.get("cursor") or "")
        if cursor:
            try:
                after = base64.b64decode(cursor, validate=True).decode().removeprefix("team:")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError("invalid_cursor") from None
            ids = [c.id for c in seen]
            if after not in ids:
                raise ApiError("invalid_cursor")
            start = ids.index(after)
        page, rest = seen[start : start + limit], seen[start + limit :]
        channels = []
        for c in page:
            info = (await self._conversations_info({"channel": c.id}, _request))["channel"]
            members = self._members.get(c.id, [])
            channels.append(
                {
                    **info,
                    "is_pending_ext_shared": False,
                    "pending_shared": [],
                    "previous_names": [],
                    "num_members": len(members),
                    "unlinked": 0,
                }
            )
        next_cursor = base64.b64encode(f"team:{rest[0].id}".encode()).decode() if rest else ""
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": next_cursor}}

    async def _conversations_join(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """The bot joins a public channel (channels:join); a private one needs an invitation."""
        refused = self._missing_scope("channels:join")
        if refused is not None:
            return refused
        channel = self._channels[self._channel(params)]
        if channel.is_archived:
            raise ApiError("is_archived")
        if channel.is_private:
            raise ApiError("method_not_supported_for_channel_type")
        members = self._members.setdefault(channel.id, [])
        if self.bot_user_id not in members:
            members.append(self.bot_user_id)
        return await self._conversations_info({"channel": channel.id}, _request)

    async def _conversations_members(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """Member ids of a channel, paged as Slack pages them: ``limit`` (default 100, at most 1000)
        and an opaque cursor (here base64 of ``user:<the next member>``), empty on the last page."""
        refused = self._missing_scope("channels:read")
        if refused is not None:
            return refused
        channel = self._channel(params)
        members = self._members.get(channel, [])
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            raise ApiError("invalid_limit") from None
        if limit < 1:
            raise ApiError("invalid_limit")
        limit = min(limit, 1000)
        start = 0
        cursor = str(params.get("cursor") or "")
        if cursor:
            try:
                kind, _, user = base64.b64decode(cursor, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError("invalid_cursor") from None
            if kind != "user" or user not in members:
                raise ApiError("invalid_cursor")
            start = members.index(user)
        page, rest = members[start : start + limit], members[start + limit :]
        next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _read_window(
        self, params: dict[str, Any], *, default_limit: int, max_limit: int
    ) -> tuple[int, Callable[[tuple[int, int]], bool], bool]:
        """What conversations.history and .replies share: the page size, whether a ts is inside
        ``oldest``/``latest`` (exclusive unless ``inclusive``), and whether metadata is wanted."""
        try:
            limit = min(max(int(params.get("limit") or default_limit), 1), max_limit)
        except ValueError:
            raise ApiError("invalid_limit") from None
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = self._ts_param(params, "oldest", "invalid_ts_oldest")
        latest = self._ts_param(params, "latest", "invalid_ts_latest")

        def in_window(key: tuple[int, int]) -> bool:
            if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
                return False
            return latest is None or key < latest or (key == latest and inclusive)

        return limit, in_window, with_metadata

    @staticmethod
    def _ts_param(params: dict[str, Any], name: str, error: str) -> tuple[int, int] | None:
        value = params.get(name)
        if not value:
            return None
        try:
            return ts_key(str(value).removeprefix("next_ts:"))
        except ValueError:
            raise ApiError(error) from None

    async def _conversations_replies(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """A thread, parent first, then its replies oldest first, as Slack pages it.

        ``oldest``/``latest`` bound the replies (exclusive unless ``inclusive``); the parent is always
        the first message, as Slack returns it. ``metadata`` is included only with
        ``include_all_metadata``. The cursor is opaque to callers (the next reply's ts here).
        """
        channel = self._channel(params)
        self._require(params, "ts")
        messages = self._messages[channel]
        target = messages.get(str(params["ts"]))
        if target is None:
            raise ApiError("thread_not_found")
        root = messages.get(str(target.get("thread_ts") or target["ts"]), target)
        limit, in_window, with_metadata = self._read_window(params, default_limit=1000, max_limit=1000)
        after = self._ts_param(params, "cursor", "invalid_cursor")

        def wanted(ts: str) -> bool:
            key = ts_key(ts)
            return (after is None or key >= after) and in_window(key)

        replies = sorted((ts for ts in self._replies.get((channel, root["ts"]), []) if wanted(ts)), key=ts_key)
        page, rest = replies[:limit], replies[limit:]
        found = [root, *(messages[ts] for ts in page)] if after is None else [messages[ts] for ts in page]
        out = _as_read(found, with_metadata)
        answer: dict[str, Any] = {"ok": True, "messages": out, "has_more": bool(rest)}
        answer["response_metadata"] = {"next_cursor": f"next_ts:{rest[0]}" if rest else ""}
        return answer

    async def _conversations_history(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """A channel's messages, newest first, without thread replies (a thread's parent carries its
        summary), as Slack pages them: ``oldest``/``latest`` (exclusive unless ``inclusive``), ``limit``,
        an opaque cursor (the next older message's ts here), ``metadata`` only with ``include_all_metadata``."""
        channel = self._channel(params)
        limit, in_window, with_metadata = self._read_window(params, default_limit=100, max_limit=999)
        before = self._ts_param(params, "cursor", "invalid_cursor")

        def wanted(message: dict[str, Any]) -> bool:
            if message.get("thread_ts", message["ts"]) != message["ts"]:
                return False
            key = ts_key(message["ts"])
            return (before is None or key <= before) and in_window(key)

        found = sorted(
            (m for m in self._messages[channel].values() if wanted(m)), key=lambda m: ts_key(m["ts"]), reverse=True
        )
        page, rest = found[:limit], found[limit:]
        return {
            "ok": True,
            "messages": _as_read(page, with_metadata),
            "has_more": bool(rest),
            "pin_count": 0,
            "response_metadata": {"next_cursor": f"next_ts:{rest[0]['ts']}" if rest else ""},
        }
