"""Messages: ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``chat.delete``, the
optional automatic agent reply, and a person replying in a thread (delivered as a ``message`` event)."""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from typing import Any

from aiohttp import web

from zora.standins.slack.delivery import Delivery
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, ApiError, StandInError, rich_text

log = logging.getLogger(__name__)

_BOT_ICONS = {
    "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
    "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
    "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png",
}


class Chat(Delivery):
    """chat.* methods and people's replies in threads."""

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
            blocks=rich_text(text),
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

    def _message_content(self, params: dict[str, Any]) -> dict[str, Any]:
        blocks = self._json_param(params, "blocks", "invalid_blocks_format")
        if blocks is not None and not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        attachments = self._json_param(params, "attachments", "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        text = params.get("text") or params.get("markdown_text") or ""
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
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
                raise ApiError("thread_not_found")
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
        self._store_post(channel, root, message)
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
            raise ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise ApiError("cant_update_message")
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
            raise ApiError("user_not_in_channel")
        content = self._message_content(params)
        # In a thread when Slack is given its thread_ts (an ephemeral reply shown among the thread's).
        thread = {"thread_ts": str(params["thread_ts"])} if params.get("thread_ts") else {}
        self.ephemeral.append({"channel": channel, "user": user, **content, **thread})
        # Slack answers with a ts for the ephemeral message that no API can look up later.
        return {"ok": True, "message_ts": self._next_ts(channel)}

    async def _chat_delete(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "ts")
        ts = str(params["ts"])
        message = self._messages[channel].get(ts)
        if message is None:
            raise ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            # A bot token may delete only the bot's own messages.
            raise ApiError("cant_delete_message")
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
