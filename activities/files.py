"""Copying the files agents share in a Slack thread, so the shopper sees them without Slack.

`copy_agent_files` runs from ConversationWorkflow when a `files_shared` signal arrives: every
pending agent file of the conversation is fetched from `url_private_download` with the bot token,
checked (size, and that its bytes are the type it claims), stored, and pushed to the shopper as a
`message_files` event. It is idempotent: a retry only looks at files still pending.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from temporalio import activity

from activities.calls import COPY_AGENT_FILES
from bot.outbound import SlackOutbound
from zora import files as zfiles
from zora.db import Pool
from zora.http import client_session
from zora.logs import conversation_id_var
from zora.models import CopyAgentFiles
from zora.push import Emitter, push
from zora.settings import Settings
from zora.slack_text import escape
from zora.store import files as sfiles
from zora.widget_events import MessageFiles

log = logging.getLogger(__name__)

# Where Slack serves files; the bot token is never sent anywhere else.
SLACK_FILE_HOSTS = frozenset({"files.slack.com"})
# After this many tries a file that keeps failing is shown as failed instead of pending forever.
MAX_ATTEMPTS = 8


class FileFetchError(Exception):
    """Worth another try (Slack busy, network)."""


class FileActivities:
    def __init__(self, pool: Pool, emitter: Emitter, settings: Settings, outbound: SlackOutbound) -> None:
        self.pool = pool
        self.emitter = emitter
        # To tell the agents in the thread about a file the shopper will not see.
        self.outbound = outbound
        self.settings = settings
        # Where the token may go: Slack's file host over https, and the Web API's own origin (the
        # stand-in on loopback serves its files itself).
        api = urlsplit(settings.slack_api_url)
        self.origins = {("https", host) for host in SLACK_FILE_HOSTS} | {(api.scheme, api.hostname or "slack.com")}

    def all(self) -> list[Any]:
        return [self.copy_agent_files]

    @COPY_AGENT_FILES.defn
    async def copy_agent_files(self, req: CopyAgentFiles) -> int:
        """Copy the conversation's pending agent files; returns how many became ready."""
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        async with self.pool.acquire() as conn:
            pending = await sfiles.pending_copies(conn, ref)
        if not pending:
            return 0
        last_try = activity.info().attempt >= MAX_ATTEMPTS
        # Slack's file host wants the token of the workspace the file is in: the gateway's installation.
        token = (await self.outbound.workspaces.for_shop(ref.shop_id)).installation.token() or ""
        ready = 0
        changed: set[int] = set()
        retry: list[str] = []
        failed: list[str] = []
        async with client_session() as session:
            for row in pending:
                try:
                    data = await self._fetch(session, token, row.slack_url)
                    zfiles.check_content(row.content_type, data)
                except FileFetchError as exc:
                    if not last_try:
                        retry.append(str(exc))
                        continue
                    failed.append(await self._failed(row, f"Slack did not give the file: {exc}"))
                except zfiles.FileRejected as exc:
                    failed.append(await self._failed(row, exc.message))
                else:
                    async with self.pool.acquire() as conn:
                        await sfiles.copied(conn, row.id, data)
                    ready += 1
                changed.add(row.message_seq)
        if failed:
            await self._tell_agents(ref.conversation_id, failed)
        await self._push(ref.conversation_id, sorted(changed))
        if retry:
            # What was copied is already pushed; Temporal tries the rest again.
            raise FileFetchError("; ".join(retry))
        return ready

    async def _fetch(self, session: aiohttp.ClientSession, token: str, url: str | None) -> bytes:
        parts = urlsplit(url or "")
        if (parts.scheme, parts.hostname) not in self.origins:
            raise zfiles.FileRejected("unsupported_type", "the file is not hosted by Slack (an external link?)")
        limit = self.settings.file_max_bytes
        try:
            async with session.get(url or "", headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status in (403, 404, 410):
                    raise zfiles.FileRejected("not_found", "the file was deleted in Slack or is not shared with Zora")
                if resp.status >= 400:
                    raise FileFetchError(f"HTTP {resp.status}")
                if resp.content_type == "text/html":
                    # Slack's sign-in page: the token may not read files (the files:read scope).
                    raise zfiles.FileRejected(
                        "unauthorized", "Slack refused the bot token for this file; the app needs the files:read scope"
                    )
                return await zfiles.read_limited(resp.content, limit)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FileFetchError(f"{type(exc).__name__}: {exc}") from None

    async def _failed(self, row: sfiles.PendingCopy, error: str) -> str:
        """Mark the file failed; the line that tells the agents."""
        log.warning("an agent's file was not copied: %s", error)
        async with self.pool.acquire() as conn:
            await sfiles.copy_failed(conn, row.id, error)
        # The name is whatever its uploader typed, the error may quote a URL: both are text to Slack.
        return f"• {escape(row.name, 300)}: {escape(error, 500)}"

    async def _tell_agents(self, conversation_id: Any, lines: list[str]) -> None:
        try:
            await self.outbound.post_in_thread(conversation_id, zfiles.refused_note(lines))
        except SlackApiError as exc:
            # The shopper's widget already shows the file as not available; only this hint is lost.
            log.warning("could not tell the agents about a file not copied: %s", exc.response.get("error"))

    async def _push(self, conversation_id: Any, seqs: list[int]) -> None:
        if not seqs:
            return
        async with self.pool.acquire() as conn:
            found = await zfiles.files_of(conn, conversation_id, seqs)
        for seq in seqs:
            await push(self.emitter, MessageFiles(conversation_id=conversation_id, seq=seq, files=found.get(seq, [])))
