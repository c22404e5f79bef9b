"""The workspace the stand-in models and what every API family shares: its users, channels and
messages, the test controls that set them up, the message store, the parameter checks of the Web API,
and the server's lifecycle."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import string
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from zora.errors import ZoraError
from zora.slack_app import BOT_SCOPES
from zora.standins import serve

DEFAULT_AGENT_ID = "U0AGENT001"

# Slack answers every Web API call with these headers; bolt reads the scopes from auth.test.
# An app created from slack/manifest.yml; `scopes=` models one installed with fewer.
SCOPES = BOT_SCOPES

_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits


class StandInError(ZoraError):
    """The stand-in was asked for something it cannot do (unknown thread, no events_url...)."""


class ApiError(Exception):
    """An ``ok: false`` answer; raised inside a method handler and rendered by the dispatcher."""

    def __init__(self, error: str, missing: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.missing = missing


@dataclass(frozen=True)
class Injection:
    """One queued misbehaviour for a method: a 429 (retry_after set), an ``ok: false`` error (with
    an HTTP status of Slack's servers in trouble, perhaps after doing the work), or a hang."""

    error: str
    retry_after: int | None = None
    status: int = 200
    # Carried out before the error answer (Slack: "some aspect of the operation" may have succeeded).
    carried_out: bool = False
    # Seconds without an answer; then the call is carried out for a caller that has long given up.
    hang: float | None = None


@dataclass
class User:
    id: str
    name: str
    display_name: str
    is_bot: bool
    updated: int


@dataclass
class Channel:
    id: str
    name: str
    created: int
    is_private: bool = False
    is_archived: bool = False


MethodHandler = Callable[[dict[str, Any], web.Request], Awaitable[dict[str, Any]]]


def ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def rich_text(text: str) -> list[dict[str, Any]]:
    """The ``blocks`` Slack attaches to a message a human typed in the client."""
    block_id = "".join(secrets.choice(_BLOCK_ID_ALPHABET) for _ in range(5))
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]


def is_missing(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is None or value == ""


class Workspace:
    """One Slack workspace with one installed bot: its state, shared by the API families (the mixins
    beside this module) that ``SlackStandIn`` assembles."""

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        events_url: str | None = None,
        team_id: str = "T0ZORA0001",
        bot_user_id: str = "U0ZORABOT1",
        bot_id: str = "B0ZORABOT1",
        app_id: str = "A0ZORAAPP1",
        auto_reply: Callable[[dict[str, Any]], str | None] | None = None,
        app_token: str | None = None,
        scopes: tuple[str, ...] = SCOPES,
    ) -> None:
        self.bot_token = bot_token
        self.scopes = scopes
        self.signing_secret = signing_secret
        self.events_url = events_url
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.auto_reply = auto_reply
        self.team_name = "Zora Stand-in"
        # Slack gives up on a delivery after 3 s and counts it as failed.
        self.delivery_timeout = 3.0

        self._init_records()
        self._init_world()
        # Upload URL key -> file id, until the bytes arrive.
        self._upload_keys: dict[str, str] = {}

        self._injections: dict[str, deque[Injection]] = {}
        self._lost_answers: dict[str, int] = {}
        self._post_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[int]] = set()
        self._event_times: dict[str, int] = {}
        # Per-instance prefix so event ids stay unique across restarts of `zora dev` (Zora dedupes on them).
        self._event_prefix = secrets.token_hex(3).upper()
        self._event_counter = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        # Socket Mode: connected app clients and the acks they owe, by envelope id.
        self.app_token = app_token
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._origin: str | None = None

        self._methods: dict[str, MethodHandler] = self._web_api_methods()

        self.app = web.Application()
        self._add_routes(self.app.router)
        # cleanup_ctx rather than start()/stop() alone, so the app also works when mounted elsewhere.
        self.app.cleanup_ctx.append(self._client_session_ctx)

    def _init_records(self) -> None:
        """What the stand-in records for tests to read: posts, calls, views, files."""
        self.posted: list[dict[str, Any]] = []
        # Messages only one user sees (chat.postEphemeral): channel, user, text, blocks.
        self.ephemeral: list[dict[str, Any]] = []
        # Messages removed with chat.delete.
        self.deleted: list[dict[str, str]] = []
        # Modals opened with views.open, by view id.
        self.views: dict[str, dict[str, Any]] = {}
        # App Home views as last published, per user (views.publish).
        self.home_views: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # The client's (address, port) of each Web API call, in order: calls over one kept-alive
        # connection share a port.
        self.call_peers: list[Any] = []
        # Files by id: shared by agents (share_file) or uploaded by the bot (files.getUploadURLExternal,
        # the upload URL, files.completeUploadExternal). Each keeps its bytes under "content".
        self.files: dict[str, dict[str, Any]] = {}
        # Files the bot uploaded and shared with files.completeUploadExternal, in order.
        self.uploads: list[dict[str, Any]] = []
        # Ids of files fetched through url_private(_download) with the bot token.
        self.downloads: list[str] = []
        # While above zero, file downloads answer 503 (Slack's file host in trouble), counting down.
        self.download_failures = 0

    def _init_world(self) -> None:
        """The workspace's people, channels and messages: the bot and the default agent to begin with."""
        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        # Who is in each channel (conversations.members), in the order they joined.
        self._members: dict[str, list[str]] = {}
        # User groups by id (S...): their users (usergroups.users.list).
        self._usergroups: dict[str, list[str]] = {}
        # channel -> ts -> message, in the shape conversations.history would return it.
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}
        self._replies: dict[tuple[str, str], list[str]] = {}
        self._last_ts_us: dict[str, int] = {}
        # users.getPresence answers; everyone is active unless set_presence says otherwise.
        self._presence: dict[str, str] = {}

        self.add_user(self.bot_user_id, "zora", "Zora", is_bot=True)
        self.add_user(DEFAULT_AGENT_ID, "agent", "Agent")

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise StandInError("the Slack stand-in is already started")
        self._runner, self._origin = await serve(self.app, host, port)

    async def stop(self) -> None:
        await self._cancel_tasks()
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._origin = None

    async def _client_session_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession()
        try:
            yield
        finally:
            await self._cancel_tasks()
            await self._session.close()
            self._session = None

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def base_url(self) -> str:
        return f"{self._require_origin()}/api/"

    @property
    def inbox_url(self) -> str:
        return f"{self._require_origin()}/dev/slack"

    def _require_origin(self) -> str:
        if self._origin is None:
            raise StandInError("the Slack stand-in is not started; call start() first")
        return self._origin

    # ------------------------------------------------------------------ world setup, and what tests read back

    def add_channel(
        self, channel_id: str, name: str, *, private: bool = False, archived: bool = False, bot_in: bool = True
    ) -> None:
        """A channel (with ``bot_in=False``, one the bot was not invited to)."""
        self._channels[channel_id] = Channel(channel_id, name, int(time.time()), private, archived)
        self._messages.setdefault(channel_id, {})
        # Whoever created the channel (the default agent) and the bot they invited.
        self._members.setdefault(channel_id, [self.bot_user_id, DEFAULT_AGENT_ID] if bot_in else [DEFAULT_AGENT_ID])

    def set_channel_members(self, channel_id: str, users: list[str]) -> None:
        """Exactly these users are in the channel from now on (the bot only if listed)."""
        if channel_id not in self._channels:
            raise StandInError(f"no channel {channel_id}; add_channel() it first")
        self._members[channel_id] = list(dict.fromkeys(users))

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """A user group (S...) with exactly these users; an empty list keeps the group, empty."""
        self._usergroups[usergroup_id] = list(dict.fromkeys(users))

    def add_user(self, user_id: str, name: str, display_name: str, *, is_bot: bool = False) -> None:
        self._users[user_id] = User(user_id, name, display_name, is_bot, int(time.time()))

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Root and replies in ts order, as copies with ``channel`` added."""
        messages = self._messages.get(channel, {})
        root = messages.get(thread_ts)
        if root is None:
            return []
        found = [root, *(messages[ts] for ts in self._replies.get((channel, thread_ts), []))]
        found.sort(key=lambda message: ts_key(message["ts"]))
        return [{**copy.deepcopy(message), "channel": channel} for message in found]

    # The timeout argument is part of the interface tests code against, hence the noqa.
    async def wait_for_posts(self, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until the bot has posted at least ``n`` messages; returns all posts so far."""
        if len(self.posted) < n:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (n, waiter)
            self._post_waiters.append(entry)
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                raise TimeoutError(
                    f"the bot posted {len(self.posted)} message(s), expected {n}, within {timeout} s"
                ) from None
            finally:
                self._post_waiters.remove(entry)
        return list(self.posted)

    # ------------------------------------------------------------------ message store

    def _next_ts(self, channel: str) -> str:
        # Wall-clock microseconds like Slack, bumped so ts stays unique and increasing within a channel.
        now_us = time.time_ns() // 1000
        us = max(now_us, self._last_ts_us.get(channel, 0) + 1)
        self._last_ts_us[channel] = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _store_reply(self, channel: str, root: dict[str, Any], message: dict[str, Any]) -> None:
        self._messages[channel][message["ts"]] = message
        replies = self._replies.setdefault((channel, root["ts"]), [])
        replies.append(message["ts"])
        # A root carries its thread summary once it has replies, as conversations.history shows it.
        reply_users = list(dict.fromkeys([*root.get("reply_users", []), message["user"]]))
        root.update(
            thread_ts=root["ts"],
            reply_count=len(replies),
            reply_users_count=len(reply_users),
            latest_reply=message["ts"],
            reply_users=reply_users,
        )

    def _store_post(self, channel: str, root: dict[str, Any] | None, message: dict[str, Any]) -> None:
        """A new message in the channel, or in `root`'s thread."""
        if root is None:
            self._messages[channel][message["ts"]] = message
            return
        message["thread_ts"] = root["ts"]
        message["parent_user_id"] = root.get("user")
        self._store_reply(channel, root, message)

    def _record_post(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        snapshot: dict[str, Any] = copy.deepcopy(message)
        snapshot["channel"] = channel
        snapshot.setdefault("thread_ts", None)
        self.posted.append(snapshot)
        for count, waiter in self._post_waiters:
            if len(self.posted) >= count and not waiter.done():
                waiter.set_result(None)
        return snapshot

    # ------------------------------------------------------------------ Web API parameters, for every family

    @staticmethod
    def _json_param(params: dict[str, Any], name: str, error: str) -> Any:
        # Form-encoded callers send blocks/attachments/metadata as JSON text; JSON callers send objects.
        value = params.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ApiError(error) from None
        return value

    def _require(self, params: dict[str, Any], *names: str) -> None:
        for name in names:
            if is_missing(params, name):
                raise ApiError("invalid_arguments", missing=name)

    def _channel(self, params: dict[str, Any]) -> str:
        self._require(params, "channel")
        channel = str(params["channel"])
        if channel not in self._channels:
            raise ApiError("channel_not_found")
        return channel

    def _missing_scope(self, needed: str) -> dict[str, Any] | None:
        # Slack names the scope the method needed and the ones the token has.
        if needed in self.scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}

    # ------------------------------------------------------------------ what SlackStandIn assembles

    def _web_api_methods(self) -> dict[str, MethodHandler]:
        """Every modelled Web API method's handler, by Slack's name for it (assembled in standin.py)."""
        raise NotImplementedError

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        """The HTTP routes: the Web API, uploads and downloads, Socket Mode, the inbox page (standin.py)."""
        raise NotImplementedError
