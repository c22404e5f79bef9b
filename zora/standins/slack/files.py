"""Files: ``files.getUploadURLExternal``, the upload URL, ``files.completeUploadExternal``,
``files.delete``, downloads through ``url_private`` with the bot token, and a person sharing a file."""

from __future__ import annotations

import copy
import hmac
import secrets
import string
import time
import uuid
from typing import Any
from urllib.parse import quote

from aiohttp import web

from zora.standins.slack.delivery import Delivery
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, ApiError, StandInError, rich_text

_SIGN_IN_PAGE = "<!doctype html><html><head><title>Slack</title></head><body>Sign in to your workspace</body></html>"


def guess_mimetype(content: bytes) -> str:
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


class Files(Delivery):
    """files.* methods, the upload URL, downloads, and people sharing files."""

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
            "blocks": rich_text(text) if text else [],
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
            raise ApiError("invalid_arguments", missing="length") from None
        if length < 1:
            raise ApiError("invalid_arguments", missing="length")
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
            raise ApiError("invalid_arguments", missing="files")
        channel = str(params.get("channel_id") or "") or None
        if channel is not None and channel not in self._channels:
            raise ApiError("channel_not_found")
        thread_ts = str(params.get("thread_ts") or "") or None
        root = None
        if thread_ts is not None:
            if channel is None:
                raise ApiError("invalid_arguments", missing="channel_id")
            root = self._messages[channel].get(thread_ts)
            if root is None:
                raise ApiError("thread_not_found")
        completed: list[dict[str, Any]] = []
        for item in wanted:
            pending = self.files.get(str(item["id"]))
            if pending is None or pending.get("content") is None or "mimetype" in pending:
                raise ApiError("file_not_found")
        for item in wanted:
            pending = self.files[str(item["id"])]
            content = pending["content"]
            title = str(item.get("title") or pending["name"])
            described = self._file_object(
                pending["id"], pending["name"], guess_mimetype(content), len(content), self.bot_user_id
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
            self._post_files(channel, root, completed, str(params.get("initial_comment") or ""))
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in completed]}

    def _post_files(self, channel: str, root: dict[str, Any] | None, files: list[dict[str, Any]], comment: str) -> None:
        """The bot's message sharing uploaded files, in the channel or in root's thread."""
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": self._next_ts(channel),
            "bot_id": self.bot_id,
            "text": comment,
            "files": copy.deepcopy(files),
            "upload": True,
            "display_as_bot": False,
        }
        self._store_post(channel, root, message)

    async def _files_delete(self, params: dict[str, Any], _request: web.Request) -> dict[str, Any]:
        self._require(params, "file")
        found = self.files.get(str(params["file"]))
        if found is None or "mimetype" not in found:
            raise ApiError("file_not_found")
        if found.get("user") != self.bot_user_id:
            raise ApiError("cant_delete_file")
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
