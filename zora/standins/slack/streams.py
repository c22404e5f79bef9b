"""Message streaming: ``chat.startStream``, ``chat.appendStream``, ``chat.stopStream``.

Modelled on Slack's reference pages (the documented arguments are in
../shared/fixtures/slack/api-chat-stream.json): a stream is a bot reply in a thread whose text grows with
each ``markdown_text`` until it is stopped. In a channel (not a DM) Slack requires the recipient of the
streamed text, ``recipient_team_id`` and ``recipient_user_id``. Answers carry ``channel`` and ``ts``, and
``chat.stopStream`` also the finished ``message``, as @slack/web-api's response types describe them.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from zora.standins.slack.workspace import ApiError, Workspace

# Slack's limit on one markdown_text.
MAX_MARKDOWN = 12_000


class Streams(Workspace):
    """chat.*Stream: streamed bot replies in threads."""

    # What chat.startStream answers when the workspace does not stream (None: it does). Tests and
    # `zora dev` set it with `refuse_streams`.
    _stream_refusal: str | None = None

    def refuse_streams(self, error: str | None = "method_not_supported_for_channel_type") -> None:
        """Make chat.startStream fail with `error`, as in a workspace or channel without streaming;
        None streams again."""
        self._stream_refusal = error

    @property
    def streams(self) -> list[dict[str, Any]]:
        """Every streamed message started so far, oldest first: ``{"channel": ..., "message": ...}`` with the
        message as it stands now (also in the thread, as conversations.replies shows it)."""
        found: list[dict[str, Any]] = self.__dict__.setdefault("_streams", [])
        return found

    @staticmethod
    def _markdown(params: dict[str, Any], *, required: bool) -> str:
        text = params.get("markdown_text")
        if text is None or text == "":
            if required:
                raise ApiError("invalid_arguments", missing="markdown_text")
            return ""
        if len(str(text)) > MAX_MARKDOWN:
            raise ApiError("msg_too_long")
        return str(text)

    def _streaming(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        channel = self._channel(params)
        self._require(params, "ts")
        message = self._messages[channel].get(str(params["ts"]))
        if message is None or message.get("user") != self.bot_user_id:
            raise ApiError("message_not_found")
        if message.get("streaming_state") != "in_progress":
            raise ApiError("message_not_in_streaming_state")
        return channel, message

    async def _chat_start_stream(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "thread_ts")
        if self._stream_refusal is not None:
            raise ApiError(self._stream_refusal)
        if channel[:1] in ("C", "G"):
            # Not a DM: Slack must know whose request the stream answers.
            if not params.get("recipient_team_id"):
                raise ApiError("missing_recipient_team_id")
            if not params.get("recipient_user_id"):
                raise ApiError("missing_recipient_user_id")
        text = self._markdown(params, required=False)
        root = self._messages[channel].get(str(params["thread_ts"]))
        if root is None or root.get("thread_ts", root["ts"]) != root["ts"]:
            raise ApiError("thread_not_found")
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": self._next_ts(channel),
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "streaming_state": "in_progress",
        }
        self._store_post(channel, root, message)
        self.streams.append({"channel": channel, "message": message})
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    async def _chat_append_stream(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel, message = self._streaming(params)
        message["text"] += self._markdown(params, required=True)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    async def _chat_stop_stream(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        channel, message = self._streaming(params)
        message["text"] += self._markdown(params, required=False)
        message["streaming_state"] = "completed"
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}
