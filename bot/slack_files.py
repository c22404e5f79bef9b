"""A shopper's file into the conversation's Slack thread: uploaded step by step (its Slack id written
down before it is shared), or a note with a link when Slack will not take files from the app."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from zora.db import Pool
from zora.errors import ZoraError
from zora.files import file_url, human_size
from zora.http import client_session
from zora.models import SlackThread
from zora.slack_api import SlackGateway
from zora.slack_text import escape
from zora.store import files as sfiles

log = logging.getLogger(__name__)

# Slack will not take files from this app or workspace: the agents get a note with a link instead.
_UPLOAD_REFUSED = frozenset({"missing_scope", "file_uploads_disabled", "file_uploads_except_images_disabled"})


class SlackFiles:
    def __init__(self, pool: Pool, public_url: str | None) -> None:
        self.pool = pool
        # Zora's public address, for links to files in Slack notes (PUBLIC_URL).
        self.public_url = public_url

    async def send(self, slack: SlackGateway, thread: SlackThread, upload: sfiles.Upload) -> str:
        """The file into the thread (through `slack`, the shop's own workspace); the id it is known by
        there (Slack's file id, or the note's)."""
        try:
            return await self._upload(slack, thread, upload)
        except SlackApiError as exc:
            if exc.response.get("error") not in _UPLOAD_REFUSED:
                raise
            # An app installed before files were sent (no files:write): the agents still learn
            # about the file, with a link when Zora's public URL is known, instead of the
            # whole message waiting for a scope.
            return await self._file_fallback(slack, thread, upload)

    async def _upload(self, slack: SlackGateway, thread: SlackThread, upload: sfiles.Upload) -> str:
        """Upload one file into the thread, step by step (what files_upload_v2 does), to write down
        the id Slack gives the file before it is shared: an upload cut off later can then be found in
        the thread by that id instead of being uploaded twice."""
        data = upload.data
        target = await slack.files_getUploadURLExternal(filename=upload.name, length=len(data))
        file_id = str(target["file_id"])
        await sfiles.set_slack_upload_id(self.pool, upload.id, file_id)
        async with (
            client_session() as session,
            session.post(
                str(target["upload_url"]),
                data=data,
                proxy=slack.proxy,
                ssl=slack.ssl if slack.ssl is not None else True,
            ) as answer,
        ):
            if answer.status != 200:
                raise ZoraError(f"Slack's file host answered {answer.status} to an upload")
        await slack.files_completeUploadExternal(
            files=[{"id": file_id, "title": upload.name}], channel_id=thread.channel, thread_ts=thread.thread_ts
        )
        return file_id

    async def _file_fallback(self, slack: SlackGateway, thread: SlackThread, upload: sfiles.Upload) -> str:
        log.warning("Slack refused a file upload: add files:write to the app (slack/manifest.yml), allow uploads")
        size = human_size(len(upload.data))
        link = f" {self.public_url.rstrip('/')}{file_url(upload.id)}" if self.public_url else ""
        # The file's name is the shopper's: escaped, and outside Zora's _italics_.
        name = escape(upload.name, 600)
        response = await slack.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            text=f":paperclip: The shopper sent {name} ({size}).{escape(link)}\n_Zora cannot upload files into"
            " Slack yet: the app needs the files:write scope (see slack/manifest.yml)._",
            unfurl_links=False,
        )
        return f"message:{response['ts']}"
