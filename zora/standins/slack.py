"""A Slack stand-in on loopback: the Web API and Events API as Slack speaks them.

Zora talks to it through the real ``slack_sdk`` client (``base_url``) and receives signed
``event_callback`` deliveries from it, so the code under test cannot tell it from Slack for the
methods modelled here. Response and event shapes follow the provider-published examples in
``../shared/fixtures/slack`` (see that folder's ``SOURCES.md``). The ``/dev/slack`` page lets a person
play the agent in ``zora dev``.

Channel membership is modelled for ``conversations.members``: a new channel holds the bot and the
default agent (the person playing the agent in ``zora dev``); tests change it with
:meth:`SlackStandIn.set_channel_members`, and user groups with :meth:`SlackStandIn.set_usergroup`.
Deliberately not modelled: private channels, Slack's own
per-channel pacing (use :meth:`SlackStandIn.rate_limit`), automatic redelivery after a failed event
(use ``deliver_event(..., retry_num=...)``), and message events for the bot's own posts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import html
import json
import logging
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from zora.errors import ZoraError
from zora.slack_app import BOT_SCOPES
from zora.slack_text import unescape
from zora.standins import serve

log = logging.getLogger(__name__)

DEFAULT_AGENT_ID = "U0AGENT001"

# Slack answers every Web API call with these headers; bolt reads the scopes from auth.test.
# An app created from slack/manifest.yml; `scopes=` models one installed with fewer.
SCOPES = BOT_SCOPES
# The verification token is deprecated but still sent in every envelope.
_VERIFICATION_TOKEN = "zora-standin-verification-token"
_BOT_ICONS = {
    "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
    "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
    "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png",
}
_AVATAR_SIZES = ("24", "32", "48", "72", "192", "512")
_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits


class StandInError(ZoraError):
    """The stand-in was asked for something it cannot do (unknown thread, no events_url...)."""


class _ApiError(Exception):
    """An ``ok: false`` answer; raised inside a method handler and rendered by the dispatcher."""

    def __init__(self, error: str, missing: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.missing = missing


@dataclass(frozen=True)
class _Injection:
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
class _User:
    id: str
    name: str
    display_name: str
    is_bot: bool
    updated: int


@dataclass
class _Channel:
    id: str
    name: str
    created: int


_MethodHandler = Callable[[dict[str, Any], web.Request], Awaitable[dict[str, Any]]]


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


def _as_read(messages: list[dict[str, Any]], with_metadata: bool) -> list[dict[str, Any]]:
    """Copies of messages as a read method returns them: ``metadata`` only when asked for."""
    out = [copy.deepcopy(message) for message in messages]
    if not with_metadata:
        for message in out:
            message.pop("metadata", None)
    return out


def _rich_text(text: str) -> list[dict[str, Any]]:
    """The ``blocks`` Slack attaches to a message a human typed in the client."""
    block_id = "".join(secrets.choice(_BLOCK_ID_ALPHABET) for _ in range(5))
    return [
        {
            "type": "rich_text",
            "block_id": block_id,
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]


def _texts_in(value: Any) -> list[str]:
    """Every human-readable string inside Block Kit JSON, in document order (for the inbox page)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_texts_in(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_texts_in(item))
    return found


def _missing(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is None or value == ""


class SlackStandIn:
    """Slack's Web API and Events API for one workspace with one installed bot."""

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

        self.posted: list[dict[str, Any]] = []
        # Messages only one user sees (chat.postEphemeral): channel, user, text, blocks.
        self.ephemeral: list[dict[str, Any]] = []
        # users.getPresence answers; everyone is active unless set_presence says otherwise.
        self._presence: dict[str, str] = {}
        # Messages removed with chat.delete.
        self.deleted: list[dict[str, str]] = []
        # Modals opened with views.open, by view id.
        self.views: dict[str, dict[str, Any]] = {}
        # App Home views as last published, per user (views.publish).
        self.home_views: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # Files by id: shared by agents (share_file) or uploaded by the bot (files.getUploadURLExternal,
        # the upload URL, files.completeUploadExternal). Each keeps its bytes under "content".
        self.files: dict[str, dict[str, Any]] = {}
        # Files the bot uploaded and shared with files.completeUploadExternal, in order.
        self.uploads: list[dict[str, Any]] = []
        # Ids of files fetched through url_private(_download) with the bot token.
        self.downloads: list[str] = []
        # While above zero, file downloads answer 503 (Slack's file host in trouble), counting down.
        self.download_failures = 0
        # Upload URL key -> file id, until the bytes arrive.
        self._upload_keys: dict[str, str] = {}

        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        # Who is in each channel (conversations.members), in the order they joined.
        self._members: dict[str, list[str]] = {}
        # User groups by id (S...): their users (usergroups.users.list).
        self._usergroups: dict[str, list[str]] = {}
        # channel -> ts -> message, in the shape conversations.history would return it.
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}
        self._replies: dict[tuple[str, str], list[str]] = {}
        self._last_ts_us: dict[str, int] = {}
        self._injections: dict[str, deque[_Injection]] = {}
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

        self.add_user(bot_user_id, "zora", "Zora", is_bot=True)
        self.add_user(DEFAULT_AGENT_ID, "agent", "Agent")

        self._methods: dict[str, _MethodHandler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "apps.connections.open": self._apps_connections_open,
            "views.publish": self._views_publish,
            "users.getPresence": self._users_get_presence,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "chat.delete": self._chat_delete,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.delete": self._files_delete,
        }

        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_get("/socket-mode", self._handle_socket)
        self.app.router.add_get("/dev/slack", self._handle_inbox)
        self.app.router.add_post("/dev/slack/reply", self._handle_inbox_reply)
        self.app.router.add_post("/dev/slack/press", self._handle_inbox_press)
        self.app.router.add_get("/dev/slack/avatar/{user}.svg", self._handle_avatar)
        self.app.router.add_post("/upload/v1/{key}", self._handle_upload)
        # url_private and url_private_download: the bytes for the bot token only.
        self.app.router.add_get("/files-pri/{team_file}/download/{name}", self._handle_file_download)
        self.app.router.add_get("/files-pri/{team_file}/{name}", self._handle_file_download)
        self.app.router.add_get("/dev/slack/files/{file_id}", self._handle_inbox_file)
        # cleanup_ctx rather than start()/stop() alone, so the app also works when mounted elsewhere.
        self.app.cleanup_ctx.append(self._client_session_ctx)

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

    # ------------------------------------------------------------------ world setup and test controls

    def add_channel(self, channel_id: str, name: str) -> None:
        self._channels[channel_id] = _Channel(channel_id, name, int(time.time()))
        self._messages.setdefault(channel_id, {})
        # Whoever created the channel (the default agent) and the bot they invited.
        self._members.setdefault(channel_id, [self.bot_user_id, DEFAULT_AGENT_ID])

    def set_channel_members(self, channel_id: str, users: list[str]) -> None:
        """Exactly these users are in the channel from now on (the bot only if listed)."""
        if channel_id not in self._channels:
            raise StandInError(f"no channel {channel_id}; add_channel() it first")
        self._members[channel_id] = list(dict.fromkeys(users))

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """A user group (S...) with exactly these users; an empty list keeps the group, empty."""
        self._usergroups[usergroup_id] = list(dict.fromkeys(users))

    def add_user(self, user_id: str, name: str, display_name: str, *, is_bot: bool = False) -> None:
        self._users[user_id] = _User(user_id, name, display_name, is_bot, int(time.time()))

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After`` (before any auth check).

        Injections from rate_limit() and fail() queue up per method in the order they were made.
        """
        queue = self._injections.setdefault(method, deque())
        queue.extend(_Injection("ratelimited", retry_after) for _ in range(times))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(_Injection(error) for _ in range(times))

    def lose_answers(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out, then the connection is dropped before
        the answer: the caller cannot tell whether Slack did it (a crash or a network cut at that moment)."""
        self._lost_answers[method] = self._lost_answers.get(method, 0) + times

    def server_error(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        error: str = "internal_error",
        carried_out: bool = False,
    ) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` (500, 503...) with ``ok: false``;
        with ``carried_out`` the call took effect first, as Slack warns an internal_error may have."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(_Injection(error, status=status, carried_out=carried_out) for _ in range(times))

    def hang(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get no answer for ``seconds`` (longer than the caller's
        timeout: it gives up), then are carried out anyway, as a slow Slack does."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(_Injection("timeout", hang=seconds) for _ in range(times))

    def clear_failures(self, method: str) -> None:
        """Forget queued failures of `method` (the problem was fixed)."""
        self._injections.pop(method, None)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Root and replies in ts order, as copies with ``channel`` added."""
        messages = self._messages.get(channel, {})
        root = messages.get(thread_ts)
        if root is None:
            return []
        found = [root, *(messages[ts] for ts in self._replies.get((channel, thread_ts), []))]
        found.sort(key=lambda message: _ts_key(message["ts"]))
        return [{**copy.deepcopy(message), "channel": channel} for message in found]

    # The timeout argument is part of the interface tests code against, hence the noqa.
    async def wait_for_posts(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
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

    # ------------------------------------------------------------------ events API

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        base = f"v0:{ts}:".encode() + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    async def deliver_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> int:
        """POST ``event`` in an ``event_callback`` envelope to ``events_url``; returns Zora's status.

        Passing an ``event_id`` that was delivered before reproduces Slack's retry of that event,
        ``event_time`` included.
        """
        if self.events_url is None and not self._sockets:
            raise StandInError("events_url is not set and no Socket Mode client is connected")
        if self._session is None:
            raise StandInError("the Slack stand-in is not running (start() it or run its app)")
        if event_id is None:
            self._event_counter += 1
            event_id = f"Ev{self._event_prefix}{self._event_counter:06d}"
        event_time = self._event_times.setdefault(event_id, int(time.time()))
        envelope = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"1-{event.get('type', 'event')}-{self.team_id}-{event.get('channel', '')}",
        }
        if self.events_url is None:
            return await self._deliver_over_socket("events_api", envelope, retry_num or 0, retry_reason)
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.sign(body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
        async with self._session.post(self.events_url, data=body, headers=headers, timeout=timeout) as resp:
            await resp.read()
            return resp.status

    def _person_replies(
        self, channel: str, thread_ts: str, text: str, user: str, *, subtype: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Store a person's reply in the thread, as Slack keeps it; the thread's root and the reply."""
        root = self._messages.get(channel, {}).get(thread_ts)
        if root is None:
            raise StandInError(f"no thread {thread_ts} in channel {channel}")
        message: dict[str, Any] = {"user": user, "type": "message"}
        if subtype is not None:
            message["subtype"] = subtype
        message.update(
            ts=self._next_ts(channel),
            client_msg_id=str(uuid.uuid4()),
            text=text,
            team=self.team_id,
            thread_ts=thread_ts,
            parent_user_id=root.get("user"),
            blocks=_rich_text(text),
        )
        self._store_reply(channel, root, message)
        return root, message

    async def agent_reply(
        self, channel: str, thread_ts: str, text: str, user: str = DEFAULT_AGENT_ID, *, deliver: bool = True
    ) -> int:
        """A person replies in the thread: store it and deliver the ``message`` event to Zora.

        ``deliver=False`` models a reply written while Zora was down or unreachable: Slack keeps it
        (``conversations.replies`` shows it) but the event never arrives; returns 0 then.
        """
        _, message = self._person_replies(channel, thread_ts, text, user)
        ts = message["ts"]
        if not deliver:
            return 0
        event = {
            "user": user,
            "type": "message",
            "ts": ts,
            "client_msg_id": message["client_msg_id"],
            "text": text,
            "team": self.team_id,
            "user_team": self.team_id,
            "source_team": self.team_id,
            # The published example carries an empty profile; Zora should ask users.info for names.
            "user_profile": {},
            "thread_ts": thread_ts,
            "parent_user_id": message["parent_user_id"],
            "blocks": message["blocks"],
            "channel": channel,
            "event_ts": ts,
            "channel_type": "channel",
        }
        return await self.deliver_event(event)

    async def agent_broadcast_reply(
        self, channel: str, thread_ts: str, text: str, user: str = DEFAULT_AGENT_ID, *, deliver: bool = True
    ) -> int:
        """A person replies in the thread with "Also send to #channel" ticked: a ``thread_broadcast``
        message, in the thread and in the channel, and its event as Slack publishes it (with the root's
        thread summary). ``deliver=False`` as for ``agent_reply``."""
        root, message = self._person_replies(channel, thread_ts, text, user, subtype="thread_broadcast")
        ts = message["ts"]
        if not deliver:
            return 0
        event = {
            "type": "message",
            "subtype": "thread_broadcast",
            "text": text,
            "user": user,
            "ts": ts,
            "thread_ts": thread_ts,
            # Events carry no message metadata unless the app subscribed to metadata events.
            "root": {**{k: copy.deepcopy(v) for k, v in root.items() if k != "metadata"}, "is_locked": False},
            "blocks": message["blocks"],
            "client_msg_id": message["client_msg_id"],
            "channel": channel,
            "event_ts": ts,
            "channel_type": "channel",
        }
        return await self.deliver_event(event)

    # ------------------------------------------------------------------ files

    def _file_object(self, file_id: str, name: str, mimetype: str, size: int, user: str) -> dict[str, Any]:
        """A file as Slack describes it in events and API answers (message-file-share.json's shape)."""
        origin = self._require_origin()
        now = int(time.time())
        filetype = mimetype.rsplit("/", 1)[-1].replace("jpeg", "jpg")
        private = f"{origin}/files-pri/{self.team_id}-{file_id}/{quote(name)}"
        return {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private,
            "url_private_download": f"{origin}/files-pri/{self.team_id}-{file_id}/download/{quote(name)}",
            "media_display_type": "unknown",
            "permalink": f"{origin}/files/{user}/{file_id}/{quote(name)}",
            "permalink_public": f"{origin}/{self.team_id}-{file_id}-{secrets.token_hex(5)}",
            "has_rich_preview": False,
        }

    def _new_file_id(self) -> str:
        return "F" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        user: str = DEFAULT_AGENT_ID,
        *,
        size: int | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """A file someone uploaded to Slack (without sharing it anywhere yet): its Slack description."""
        file_id = self._new_file_id()
        described = self._file_object(file_id, name, mimetype, len(content) if size is None else size, user)
        self.files[file_id] = {**described, "content": content, "channels": [channel] if channel else []}
        return described

    async def share_file(
        self,
        channel: str,
        thread_ts: str,
        name: str,
        content: bytes,
        mimetype: str,
        text: str = "",
        user: str = DEFAULT_AGENT_ID,
        size: int | None = None,
    ) -> int:
        """A person shares a file in the thread: store it and deliver the ``file_share`` message event.
        ``size`` overrides the size Slack reports (a file too large to bother sending for real)."""
        root = self._messages.get(channel, {}).get(thread_ts)
        if root is None:
            raise StandInError(f"no thread {thread_ts} in channel {channel}")
        described = self.add_file(name, content, mimetype, user, size=size, channel=channel)
        ts = self._next_ts(channel)
        message: dict[str, Any] = {
            "type": "message",
            "text": text,
            "files": [described],
            "upload": False,
            "user": user,
            "display_as_bot": False,
            "ts": ts,
            "blocks": _rich_text(text) if text else [],
            "client_msg_id": str(uuid.uuid4()),
            "thread_ts": thread_ts,
            "parent_user_id": root.get("user"),
            "subtype": "file_share",
        }
        self._store_reply(channel, root, message)
        event = {
            **{k: v for k, v in message.items() if k != "parent_user_id"},
            "parent_user_id": root.get("user"),
            "channel": channel,
            "event_ts": ts,
            "channel_type": "channel",
        }
        return await self.deliver_event(copy.deepcopy(event))

    async def _files_get_upload_url(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "filename", "length")
        try:
            length = int(params["length"])
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments", missing="length") from None
        if length < 1:
            raise _ApiError("invalid_arguments", missing="length")
        file_id = self._new_file_id()
        key = secrets.token_urlsafe(12)
        self._upload_keys[key] = file_id
        self.files[file_id] = {"id": file_id, "name": str(params["filename"]), "length": length, "content": None}
        return {"ok": True, "upload_url": f"{self._require_origin()}/upload/v1/{key}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = self._upload_keys.pop(request.match_info["key"], None)
        if file_id is None:
            return web.Response(status=404, text="upload URL unknown or already used")
        data = await request.read()
        if request.content_type.startswith("multipart/"):
            return web.Response(status=400, text="the stand-in takes the raw bytes, as slack_sdk sends them")
        self.files[file_id]["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _files_complete_upload(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "files")
        wanted = self._json_param(params, "files", "invalid_arguments")
        if not isinstance(wanted, list) or not wanted or not all(isinstance(f, dict) and f.get("id") for f in wanted):
            raise _ApiError("invalid_arguments", missing="files")
        channel = str(params.get("channel_id") or "") or None
        if channel is not None and channel not in self._channels:
            raise _ApiError("channel_not_found")
        thread_ts = str(params.get("thread_ts") or "") or None
        root = None
        if thread_ts is not None:
            if channel is None:
                raise _ApiError("invalid_arguments", missing="channel_id")
            root = self._messages[channel].get(thread_ts)
            if root is None:
                raise _ApiError("thread_not_found")
        completed: list[dict[str, Any]] = []
        for item in wanted:
            pending = self.files.get(str(item["id"]))
            if pending is None or pending.get("content") is None or "mimetype" in pending:
                raise _ApiError("file_not_found")
        for item in wanted:
            pending = self.files[str(item["id"])]
            content = pending["content"]
            title = str(item.get("title") or pending["name"])
            described = self._file_object(
                pending["id"], pending["name"], _guess_mimetype(content), len(content), self.bot_user_id
            )
            described["title"] = title
            self.files[pending["id"]] = {**described, "content": content, "channels": [channel] if channel else []}
            completed.append(described)
            self.uploads.append(
                {
                    "id": pending["id"],
                    "channel": channel,
                    "thread_ts": thread_ts,
                    "name": pending["name"],
                    "title": title,
                    "mimetype": described["mimetype"],
                    "content": content,
                    "initial_comment": params.get("initial_comment"),
                }
            )
        if channel is not None:
            message: dict[str, Any] = {
                "user": self.bot_user_id,
                "type": "message",
                "ts": self._next_ts(channel),
                "bot_id": self.bot_id,
                "text": str(params.get("initial_comment") or ""),
                "files": copy.deepcopy(completed),
                "upload": True,
                "display_as_bot": False,
            }
            if root is not None:
                message["thread_ts"] = root["ts"]
                message["parent_user_id"] = root.get("user")
                self._store_reply(channel, root, message)
            else:
                self._messages[channel][message["ts"]] = message
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in completed]}

    async def _files_delete(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "file")
        found = self.files.get(str(params["file"]))
        if found is None or "mimetype" not in found:
            raise _ApiError("file_not_found")
        if found.get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_file")
        del self.files[found["id"]]
        for messages in self._messages.values():
            for message in messages.values():
                if "files" in message:
                    message["files"] = [f for f in message["files"] if f.get("id") != found["id"]]
        return {"ok": True}

    def _file_for(self, team_file: str) -> dict[str, Any] | None:
        team, _, file_id = team_file.partition("-")
        found = self.files.get(file_id)
        if team != self.team_id or found is None or found.get("content") is None or "mimetype" not in found:
            return None
        return found

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(token.encode(), self.bot_token.encode()):
            # Slack answers a request without the token with its sign-in page, not an error status.
            return web.Response(text=_SIGN_IN_PAGE, content_type="text/html")
        if self.download_failures > 0:
            self.download_failures -= 1
            return web.Response(status=503, text="service unavailable")
        found = self._file_for(request.match_info["team_file"])
        if found is None:
            return web.Response(status=404, text="file not found")
        self.downloads.append(found["id"])
        return web.Response(body=found["content"], content_type=found["mimetype"])

    async def _handle_inbox_file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["file_id"])
        if found is None or found.get("content") is None or "mimetype" not in found:
            return web.Response(status=404, text="file not found")
        return web.Response(
            body=found["content"],
            content_type=found["mimetype"],
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )

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

    def _record_post(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        snapshot: dict[str, Any] = copy.deepcopy(message)
        snapshot["channel"] = channel
        snapshot.setdefault("thread_ts", None)
        self.posted.append(snapshot)
        for count, waiter in self._post_waiters:
            if len(self.posted) >= count and not waiter.done():
                waiter.set_result(None)
        return snapshot

    # ------------------------------------------------------------------ web API dispatch

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except _ApiError as exc:
            self.calls.append((method, {}))
            return self._json({"ok": False, "error": exc.error})
        token = params.pop("token", None)
        auth_header = request.headers.get("Authorization", "")
        if auth_header.startswith("Bearer "):
            token = auth_header.removeprefix("Bearer ").strip()
        self.calls.append((method, params))

        handler = self._methods.get(method)
        if handler is None:
            return self._json({"ok": False, "error": "unknown_method"})
        queue = self._injections.get(method)
        injection = queue.popleft() if queue else None
        if injection is not None and injection.hang is None and not injection.carried_out:
            if injection.retry_after is not None:
                return self._json(
                    {"ok": False, "error": injection.error},
                    status=429,
                    headers={"Retry-After": str(injection.retry_after)},
                )
            return self._json({"ok": False, "error": injection.error}, status=injection.status)
        if not token:
            return self._json({"ok": False, "error": "not_authed"})
        # apps.connections.open is the one method that takes the app-level token (xapp-...).
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if expected is None:
            return self._json({"ok": False, "error": "invalid_auth"})
        if not hmac.compare_digest(str(token).encode(), expected.encode()):
            return self._json({"ok": False, "error": "invalid_auth"})
        if injection is not None and injection.hang is not None:
            # The caller gives up meanwhile; aiohttp lets this handler run on (no handler cancellation).
            await asyncio.sleep(injection.hang)
        try:
            answer = await handler(params, request)
        except _ApiError as exc:
            answer = {"ok": False, "error": exc.error}
            if exc.missing is not None:
                answer["response_metadata"] = {"messages": [f"[ERROR] missing required field: {exc.missing}"]}
        if injection is not None and injection.carried_out:
            return self._json({"ok": False, "error": injection.error}, status=injection.status)
        if self._lost_answers.get(method):
            self._lost_answers[method] -= 1
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError  # never reaches the caller: the connection is gone
        return self._json(answer, headers={"X-OAuth-Scopes": ",".join(self.scopes), "X-Accepted-OAuth-Scopes": ""})

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        """Merge query string and body the way Slack does: form-encoded or JSON, whichever was sent."""
        params: dict[str, Any] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update(body)
        else:
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params

    @staticmethod
    def _json_param(params: dict[str, Any], name: str, error: str) -> Any:
        # Form-encoded callers send blocks/attachments/metadata as JSON text; JSON callers send objects.
        value = params.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _ApiError(error) from None
        return value

    def _require(self, params: dict[str, Any], *names: str) -> None:
        for name in names:
            if _missing(params, name):
                raise _ApiError("invalid_arguments", missing=name)

    def _channel(self, params: dict[str, Any]) -> str:
        self._require(params, "channel")
        channel = str(params["channel"])
        if channel not in self._channels:
            raise _ApiError("channel_not_found")
        return channel

    # ------------------------------------------------------------------ web API methods

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

    def _message_content(self, params: dict[str, Any]) -> dict[str, Any]:
        blocks = self._json_param(params, "blocks", "invalid_blocks_format")
        if blocks is not None and not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        attachments = self._json_param(params, "attachments", "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _ApiError("invalid_attachments")
        text = params.get("text") or params.get("markdown_text") or ""
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        content: dict[str, Any] = {"text": str(text)}
        if blocks:
            content["blocks"] = blocks
        if attachments:
            # Slack numbers attachments in what it stores and returns.
            content["attachments"] = [
                {**attachment, "id": index} if isinstance(attachment, dict) else attachment
                for index, attachment in enumerate(attachments, start=1)
            ]
        return content

    async def _chat_post_message(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        content = self._message_content(params)
        thread_ts = params.get("thread_ts") or None
        root: dict[str, Any] | None = None
        if thread_ts is not None:
            thread_ts = str(thread_ts)
            root = self._messages[channel].get(thread_ts)
            if root is None or root.get("thread_ts", root["ts"]) != root["ts"]:
                raise _ApiError("thread_not_found")
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": self._next_ts(channel),
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            **content,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "deleted": False,
                "name": self._users[self.bot_user_id].name,
                "updated": self._users[self.bot_user_id].updated,
                "app_id": self.app_id,
                "icons": dict(_BOT_ICONS),
                "team_id": self.team_id,
            },
        }
        if params.get("username"):
            # A customised sender name turns the post into a classic bot_message, as in Slack's example.
            message["username"] = str(params["username"])
            message["subtype"] = "bot_message"
        metadata = self._json_param(params, "metadata", "invalid_metadata_format")
        if metadata is not None:
            message["metadata"] = metadata
        if root is not None:
            message["thread_ts"] = root["ts"]
            message["parent_user_id"] = root.get("user")
            self._store_reply(channel, root, message)
        else:
            self._messages[channel][message["ts"]] = message
        snapshot = self._record_post(channel, message)
        if root is not None and self.auto_reply is not None:
            self._schedule_auto_reply(snapshot)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _schedule_auto_reply(self, snapshot: dict[str, Any]) -> None:
        assert self.auto_reply is not None
        try:
            text = self.auto_reply(dict(snapshot))
        except Exception:
            # A broken callback must not turn into a Web API failure that Zora would see.
            log.exception("auto_reply callback failed")
            return
        if text is None:
            return
        task = asyncio.create_task(self.agent_reply(snapshot["channel"], snapshot["thread_ts"], text))
        self._tasks.add(task)
        task.add_done_callback(self._auto_reply_done)

    def _auto_reply_done(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("auto reply delivery failed", exc_info=exc)

    async def _chat_update(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "ts")
        message = self._messages[channel].get(str(params["ts"]))
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_update_message")
        content = self._message_content(params)
        # Fields the caller did not resend are dropped, as Slack replaces the message content.
        for key in ("blocks", "attachments"):
            message.pop(key, None)
        message.update(content)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts(channel)}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    async def _chat_post_ephemeral(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "user")
        user = str(params["user"])
        if user not in self._users:
            raise _ApiError("user_not_in_channel")
        content = self._message_content(params)
        self.ephemeral.append({"channel": channel, "user": user, **content})
        # Slack answers with a ts for the ephemeral message that no API can look up later.
        return {"ok": True, "message_ts": self._next_ts(channel)}

    async def _chat_delete(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "ts")
        ts = str(params["ts"])
        message = self._messages[channel].get(ts)
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            # A bot token may delete only the bot's own messages.
            raise _ApiError("cant_delete_message")
        if self._replies.get((channel, ts)):
            # Like Slack: a thread's parent with replies leaves a tombstone, and the replies stay.
            self._messages[channel][ts] = {
                "type": "message",
                "subtype": "tombstone",
                "text": "This message was deleted.",
                "user": "USLACKBOT",
                "hidden": True,
                "ts": ts,
                "thread_ts": ts,
                **{k: message[k] for k in ("reply_count", "reply_users", "latest_reply") if k in message},
            }
        else:
            del self._messages[channel][ts]
        for replies in self._replies.values():
            if ts in replies:
                replies.remove(ts)
        self.deleted.append({"channel": channel, "ts": ts})
        return {"ok": True, "channel": channel, "ts": ts}

    async def _views_open(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "trigger_id", "view")
        view = self._json_param(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal" or "title" not in view:
            raise _ApiError("invalid_arguments")
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
        return await self._post_form(_form_payload(payload))

    async def _reactions_add(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "timestamp", "name")
        message = self._messages[channel].get(str(params["timestamp"]))
        if message is None:
            raise _ApiError("message_not_found")
        name = str(params["name"])
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _ApiError("already_reacted")
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

    def set_presence(self, user: str, presence: str) -> None:
        """'active' or 'away', as users.getPresence will report it."""
        self._presence[user] = presence

    async def _users_get_presence(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "user")
        user = str(params["user"])
        if user not in self._users:
            raise _ApiError("user_not_found")
        return {"ok": True, "presence": self._presence.get(user, "active")}

    async def _views_publish(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "user_id", "view")
        view = self._json_param(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _ApiError("invalid_arguments")
        user = str(params["user_id"])
        if user not in self._users:
            raise _ApiError("user_not_found")
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

    async def slash_command(
        self, command: str, text: str, user: str = DEFAULT_AGENT_ID, channel: str = ""
    ) -> tuple[int, Any]:
        """An agent types `/command text`: the signed form-encoded delivery Slack sends; returns
        Zora's status and its immediate (ephemeral) answer."""
        if self.events_url is None or self._session is None:
            raise StandInError("the stand-in must be running with events_url set to deliver commands")
        channel_name = self._channels[channel].name if channel in self._channels else "directmessage"
        fields = {
            "token": _VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "zora-standin",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": self._users[user].name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": f"{self._require_origin()}/dev/slack/response/{secrets.token_hex(8)}",
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }
        raw = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()
        return await self._post_form(raw)

    async def _post_form(self, raw: bytes) -> tuple[int, Any]:
        """A signed form-encoded delivery (commands, interactivity) and Zora's immediate answer."""
        assert self.events_url is not None and self._session is not None
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.sign(raw)}
        timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
        async with self._session.post(self.events_url, data=raw, headers=headers, timeout=timeout) as resp:
            body = await resp.read()
            try:
                answer: Any = json.loads(body) if body else None
            except ValueError:
                answer = body.decode()
            return resp.status, answer

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

    async def _apps_connections_open(self, _params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        ws_origin = str(request.url.origin()).replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_origin}/socket-mode?ticket={secrets.token_hex(8)}"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: hello, then envelopes the app acknowledges by envelope_id."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {"host": "zora-standin", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                waiter = self._acks.pop(str(data.get("envelope_id", "")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        finally:
            self._sockets.remove(ws)
        return ws

    async def _deliver_over_socket(
        self, kind: str, payload: dict[str, Any], retry_attempt: int, retry_reason: str
    ) -> int:
        """Send an envelope to a connected Socket Mode client; 200 once it acks, 504 when it does not
        within Slack's 3 seconds."""
        envelope_id = str(uuid.uuid4())
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason if retry_attempt else "",
            }
        )
        try:
            await asyncio.wait_for(waiter, self.delivery_timeout)
        except TimeoutError:
            self._acks.pop(envelope_id, None)
            return 504
        return 200

    def _interaction(self, kind: str, user: str) -> dict[str, Any]:
        """What every interactivity payload starts with: its type, who acted, and a fresh trigger."""
        member = self._users[user]
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": "zora-standin"},
            "user": {"id": user, "username": member.name, "name": member.name, "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": _VERIFICATION_TOKEN,
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }

    async def press_button(
        self, channel: str, message_ts: str | None, action_id: str, value: str, user: str = DEFAULT_AGENT_ID
    ) -> int:
        """An agent presses a button of a bot message: a signed block_actions delivery (form-encoded
        ``payload=`` as Slack sends interactivity), posted to ``events_url``; returns Zora's status."""
        if (self.events_url is None and not self._sockets) or self._session is None:
            raise StandInError("the stand-in must be running with events_url set or a Socket Mode client")
        # None: a button in an ephemeral message (only its viewer has it; Slack sends no message body).
        message = None if message_ts is None else self._messages.get(channel, {}).get(message_ts)
        if message_ts is not None and message is None:
            raise StandInError(f"no message {message_ts} in {channel}")
        ephemeral_ts = message_ts or self._next_ts(channel)
        payload = {
            **self._interaction("block_actions", user),
            "container": {
                "type": "message",
                "message_ts": ephemeral_ts,
                "channel_id": channel,
                "is_ephemeral": message is None,
            },
            "channel": {"id": channel, "name": self._channels[channel].name},
            **({"message": copy.deepcopy(message)} if message is not None else {}),
            "response_url": f"{self._require_origin()}/dev/slack/response/{secrets.token_hex(8)}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": secrets.token_hex(3),
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if self.events_url is None:
            return await self._deliver_over_socket("interactive", payload, 0, "")
        status, _ = await self._post_form(_form_payload(payload))
        return status

    async def _users_info(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        self._require(params, "user")
        user = self._users.get(str(params["user"]))
        if user is None:
            raise _ApiError("user_not_found")
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
                "is_private": False,
                "created": channel.created,
                "is_archived": False,
                "is_general": False,
                "name_normalized": channel.name,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "creator": self.bot_user_id,
                "is_member": True,
                "topic": dict(empty_topic),
                "purpose": dict(empty_topic),
            },
        }

    def _missing_scope(self, needed: str) -> dict[str, Any] | None:
        # Slack names the scope the method needed and the ones the token has.
        if needed in self.scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}

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
            raise _ApiError("invalid_limit") from None
        if limit < 1:
            raise _ApiError("invalid_limit")
        limit = min(limit, 1000)
        start = 0
        cursor = str(params.get("cursor") or "")
        if cursor:
            try:
                kind, _, user = base64.b64decode(cursor, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise _ApiError("invalid_cursor") from None
            if kind != "user" or user not in members:
                raise _ApiError("invalid_cursor")
            start = members.index(user)
        page, rest = members[start : start + limit], members[start + limit :]
        next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}

    async def _usergroups_users_list(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        """The users of a user group, all at once (Slack does not page this method)."""
        refused = self._missing_scope("usergroups:read")
        if refused is not None:
            return refused
        self._require(params, "usergroup")
        users = self._usergroups.get(str(params["usergroup"]))
        if users is None:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _read_window(
        self, params: dict[str, Any], *, default_limit: int, max_limit: int
    ) -> tuple[int, Callable[[tuple[int, int]], bool], bool]:
        """What conversations.history and .replies share: the page size, whether a ts is inside
        ``oldest``/``latest`` (exclusive unless ``inclusive``), and whether metadata is wanted."""
        try:
            limit = min(max(int(params.get("limit") or default_limit), 1), max_limit)
        except ValueError:
            raise _ApiError("invalid_limit") from None
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
            return _ts_key(str(value).removeprefix("next_ts:"))
        except ValueError:
            raise _ApiError(error) from None

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
            raise _ApiError("thread_not_found")
        root = messages.get(str(target.get("thread_ts") or target["ts"]), target)
        limit, in_window, with_metadata = self._read_window(params, default_limit=1000, max_limit=1000)
        after = self._ts_param(params, "cursor", "invalid_cursor")

        def wanted(ts: str) -> bool:
            key = _ts_key(ts)
            return (after is None or key >= after) and in_window(key)

        replies = sorted((ts for ts in self._replies.get((channel, root["ts"]), []) if wanted(ts)), key=_ts_key)
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
            key = _ts_key(message["ts"])
            return (before is None or key <= before) and in_window(key)

        found = sorted(
            (m for m in self._messages[channel].values() if wanted(m)), key=lambda m: _ts_key(m["ts"]), reverse=True
        )
        page, rest = found[:limit], found[limit:]
        return {
            "ok": True,
            "messages": _as_read(page, with_metadata),
            "has_more": bool(rest),
            "pin_count": 0,
            "response_metadata": {"next_cursor": f"next_ts:{rest[0]['ts']}" if rest else ""},
        }

    # ------------------------------------------------------------------ local inbox (zora dev)

    def _author(self, message: dict[str, Any]) -> tuple[str, str]:
        """Display name and CSS class of a message's sender."""
        user = self._users.get(str(message.get("user", "")))
        if message.get("bot_id") == self.bot_id or (user is not None and user.is_bot):
            name = message.get("username") or (user.display_name if user else "bot")
            return f"{name} (bot)", "bot"
        if user is None:
            return str(message.get("user", "unknown")), "agent"
        return user.display_name, "agent"

    def _render_message(self, message: dict[str, Any]) -> str:
        name, css = self._author(message)
        # As Slack's client shows it: its three entities read as the characters they stand for.
        body = html.escape(unescape(message.get("text", "")))
        extra = ""
        if message.get("blocks") and message.get("bot_id"):
            lines = "\n".join(html.escape(unescape(text)) for text in _texts_in(message["blocks"]))
            extra = f"<details><summary>blocks</summary><pre>{lines}</pre></details>"
        edited = " <em>(edited)</em>" if "edited" in message else ""
        reactions = " ".join(f":{html.escape(r['name'])}:" for r in message.get("reactions", []))
        files = "".join(
            f'<div class="file"><a href="/dev/slack/files/{quote(str(f.get("id", "")))}" target="_blank">'
            f"&#128206; {html.escape(str(f.get('name', 'file')))}</a> <small>{int(f.get('size') or 0)} bytes</small></div>"
            for f in message.get("files") or []
        )
        return (
            f'<div class="msg {css}"><span class="who">{html.escape(name)}</span> '
            f'<span class="ts">{html.escape(message["ts"])}</span>{edited}'
            f'<div class="text">{body}</div>{files}{extra}{self._render_buttons(message)}'
            f"{f'<div class=ts>{reactions}</div>' if reactions else ''}</div>"
        )

    def _render_buttons(self, message: dict[str, Any]) -> str:
        """A bot message's buttons, each a form that presses it (as the agent chosen below)."""
        if not message.get("bot_id"):
            return ""
        forms = []
        for block in message.get("blocks") or []:
            if not isinstance(block, dict) or block.get("type") != "actions":
                continue
            for element in block.get("elements") or []:
                if element.get("type") != "button":
                    continue
                forms.append(
                    '<form method="post" action="/dev/slack/press" style="display:inline">'
                    f'<input type="hidden" name="channel" value="{html.escape(message["channel"], quote=True)}">'
                    f'<input type="hidden" name="ts" value="{html.escape(message["ts"], quote=True)}">'
                    f'<input type="hidden" name="action_id" value="{html.escape(str(element.get("action_id", "")), quote=True)}">'
                    f'<input type="hidden" name="value" value="{html.escape(str(element.get("value", "")), quote=True)}">'
                    f"<button>{html.escape(str((element.get('text') or {}).get('text', 'button')))}</button></form> "
                )
        return f'<div class="actions">{"".join(forms)}</div>' if forms else ""

    def _render_thread(self, channel: str, root: dict[str, Any], agents: list[_User]) -> str:
        messages = self.thread(channel, root["ts"])
        rendered = "".join(self._render_message(message) for message in messages)
        options = "".join(
            f'<option value="{html.escape(user.id, quote=True)}">{html.escape(user.display_name)}</option>'
            for user in agents
        )
        anchor = html.escape(f"{channel}-{root['ts']}", quote=True)
        return (
            f'<section class="thread" id="{anchor}">{rendered}'
            '<form method="post" action="/dev/slack/reply" enctype="multipart/form-data">'
            f'<input type="hidden" name="channel" value="{html.escape(channel, quote=True)}">'
            f'<input type="hidden" name="thread_ts" value="{html.escape(root["ts"], quote=True)}">'
            f'<select name="user">{options}</select> '
            '<textarea name="text" rows="2" placeholder="Reply as the agent"></textarea> '
            '<input type="file" name="file" aria-label="Share a file"> '
            "<button>Reply in thread</button></form></section>"
        )

    async def _handle_inbox(self, request: web.Request) -> web.Response:
        agents = [user for user in self._users.values() if not user.is_bot]
        agents.sort(key=lambda user: user.id != DEFAULT_AGENT_ID)
        sections: list[str] = []
        for channel in self._channels.values():
            messages = self._messages.get(channel.id, {})
            roots = [m for m in messages.values() if m.get("thread_ts", m["ts"]) == m["ts"]]
            # Newest conversation first: that is the one the person playing the agent is waiting on.
            roots.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
            threads = "".join(self._render_thread(channel.id, root, agents) for root in roots)
            sections.append(
                f"<h2>#{html.escape(channel.name)} <small>{html.escape(channel.id)}</small></h2>"
                + (threads or "<p><em>No threads yet.</em></p>")
            )
        error = request.query.get("error")
        banner = f'<p class="error">{html.escape(error)}</p>' if error else ""
        page = _INBOX_PAGE.format(
            team=html.escape(self.team_name),
            banner=banner,
            body="".join(sections) or "<p><em>No channels.</em></p>",
        )
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _handle_inbox_reply(self, request: web.Request) -> web.Response:
        form = await _same_site_form(request)
        channel = str(form.get("channel", ""))
        thread_ts = str(form.get("thread_ts", ""))
        text = str(form.get("text", "")).strip()
        user = str(form.get("user", "") or DEFAULT_AGENT_ID)
        upload = form.get("file")
        location = f"/dev/slack#{quote(f'{channel}-{thread_ts}')}"
        if text or (isinstance(upload, web.FileField) and upload.filename):
            try:
                if isinstance(upload, web.FileField) and upload.filename:
                    content = upload.file.read()
                    status = await self.share_file(
                        channel, thread_ts, upload.filename, content, _guess_mimetype(content), text, user=user
                    )
                else:
                    status = await self.agent_reply(channel, thread_ts, text, user=user)
            except (StandInError, aiohttp.ClientError, TimeoutError) as exc:
                location = f"/dev/slack?error={quote(f'Reply not delivered: {exc}')}"
            else:
                if status >= 300:
                    location = f"/dev/slack?error={quote(f'Zora answered HTTP {status} to the event')}"
        raise web.HTTPSeeOther(location)

    async def _handle_inbox_press(self, request: web.Request) -> web.Response:
        form = await _same_site_form(request)
        channel, ts = str(form.get("channel", "")), str(form.get("ts", ""))
        location = f"/dev/slack#{quote(f'{channel}-{ts}')}"
        try:
            status = await self.press_button(
                channel, ts, str(form.get("action_id", "")), str(form.get("value", "")), DEFAULT_AGENT_ID
            )
        except (StandInError, aiohttp.ClientError, TimeoutError) as exc:
            location = f"/dev/slack?error={quote(f'Button press not delivered: {exc}')}"
        else:
            if status >= 300:
                location = f"/dev/slack?error={quote(f'Zora answered HTTP {status} to the button')}"
        raise web.HTTPSeeOther(location)

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


def _form_payload(payload: dict[str, Any]) -> bytes:
    """An interactivity body as Slack sends it: form-encoded, the JSON under `payload`."""
    return ("payload=" + quote(json.dumps(payload, separators=(",", ":")), safe="")).encode()


async def _same_site_form(request: web.Request) -> Any:
    """The inbox page's form. Loopback only, but a page on another origin could still post it: refused."""
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and URL(origin).host != request.url.host:
        raise web.HTTPForbidden(text="cross-origin form post refused")
    return await request.post()


_SIGN_IN_PAGE = "<!doctype html><html><head><title>Slack</title></head><body>Sign in to your workspace</body></html>"


def _guess_mimetype(content: bytes) -> str:
    """Slack decides a file's type from its content; the stand-in knows the kinds Zora sends."""
    for start, mimetype in (
        (b"\x89PNG", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"%PDF-", "application/pdf"),
    ):
        if content.startswith(start):
            return mimetype
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


_INBOX_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slack stand-in: {team}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 56rem; }}
.thread {{ border: 1px solid #ccc; border-radius: 6px; padding: .6rem; margin: .8rem 0; }}
.msg {{ margin: .3rem 0; padding: .3rem .5rem; border-radius: 4px; }}
.msg.bot {{ background: #eef3ff; }} .msg.agent {{ background: #effaf0; margin-left: 1.5rem; }}
.who {{ font-weight: 600; }} .ts {{ color: #888; font-size: .8em; }}
.text {{ white-space: pre-wrap; }} .error {{ color: #b00; font-weight: 600; }}
textarea {{ width: 60%; vertical-align: middle; }} small {{ color: #888; font-weight: normal; }}
</style></head>
<body><h1>Slack stand-in <small>{team}</small></h1>
<p>You are the agent: reply in a thread and Zora receives it as a Slack event.</p>
{banner}{body}
<script>
// Reload for new messages, but never while someone is typing a reply.
setInterval(function () {{
  var busy = Array.prototype.some.call(document.querySelectorAll("textarea, input[type=file]"), function (t) {{
    return t.value !== "" || t === document.activeElement;
  }});
  if (!busy) {{ location.reload(); }}
}}, 3000);
</script></body></html>
"""
