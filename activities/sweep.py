"""Side effects of the minute sweep (workflows/sweeper.py): what a crashed process or a failure left
waiting goes back to its conversation's workflow, and what nobody will use any more is dropped."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError

from activities.calls import SWEEP_UNDELIVERED
from zora.db import Pool
from zora.models import ConversationRef, FilesShared, PostPendingToSlack, SweepRequest, SweepResult
from zora.slack_api import SlackGateway, SlackWorkspaces
from zora.store import files as sfiles
from zora.store import identity_codes as sidentity_codes
from zora.store import messages as smessages
from zora.store import shoppers as sshoppers
from zora.store import shops as sshops
from zora.temporal import Conversations
from zora.workflow_api import ConversationApi

log = logging.getLogger(__name__)

ArgT = TypeVar("ArgT")

UNSENT_UPLOAD_HOURS = 24


class SweepActivities:
    """Every minute (a Temporal Schedule): hands conversations whose shopper messages wait to their
    workflows — messages a crashed web process left stored, and messages Slack refused, once the
    shop's Slack works again."""

    def __init__(
        self, pool: Pool, conversations: Conversations, slack: SlackGateway, workspaces: SlackWorkspaces | None = None
    ) -> None:
        self.pool = pool
        self.conversations = conversations
        self.slack = slack
        # Each shop's own workspace (issue 11 §2): a shop is healed by asking its workspace.
        self.workspaces = workspaces or SlackWorkspaces(slack)

    @SWEEP_UNDELIVERED.defn
    async def sweep_undelivered(self, req: SweepRequest) -> SweepResult:
        healed = await self._heal_slack()
        async with self.pool.acquire() as conn:
            rows = await smessages.waiting_for_slack(conn, req.older_than_seconds, req.limit, healed)
        await self._hand_over(rows, ConversationApi.post_pending, PostPendingToSlack(reason="sweep"))
        if rows:
            log.warning("handed %d conversation(s) with waiting messages to their workflows", len(rows))
        files = await self._stuck_files(req)
        async with self.pool.acquire() as conn:
            # Uploads no message ever sent (a closed tab, a lost answer): they count against the
            # conversation's limit of waiting uploads, so they do not wait forever.
            dropped = await sfiles.drop_unsent_uploads(conn, UNSENT_UPLOAD_HOURS)
            # Emailed codes (zora/identity.py) a day after they expired: kept that long only so a late
            # click is told "expired" rather than "never issued" (both answer code_invalid anyway).
            codes = await sshoppers.drop_expired_codes(conn)
            # The assistant's identity codes never proven (zora/identity_codes.py), past every limit's window.
            codes += await sidentity_codes.drop_stale(conn)
        return SweepResult(
            handed_over=len(rows),
            files_handed_over=files,
            uploads_dropped=dropped,
            codes_dropped=codes,
        )

    async def _hand_over(
        self,
        refs: list[ConversationRef],
        signal: Callable[[ConversationApi, ArgT], Awaitable[None] | None],
        arg: ArgT,
    ) -> None:
        """Signal(-with-start) each of these conversations."""
        for ref in refs:
            await self.conversations.signal(ref, signal, arg)

    async def _stuck_files(self, req: SweepRequest) -> int:
        """Agents' files still pending long after they were shared: the signal to copy them was lost
        (the copy gives up and marks a file failed by itself, so this ends)."""
        async with self.pool.acquire() as conn:
            rows = await sfiles.agent_files_stuck(conn, max(req.older_than_seconds, 300), req.limit)
        await self._hand_over(rows, ConversationApi.files_shared, FilesShared(seq=0))
        if rows:
            log.warning("handed %d conversation(s) with files still to copy to their workflows", len(rows))
        return len(rows)

    async def _heal_slack(self) -> list[int]:
        """Shops whose Slack failed and now answers again (their channel is reachable): cleared."""
        async with self.pool.acquire() as conn:
            broken = await sshops.with_slack_error(conn)
        healed: list[int] = []
        for shop_id, channel in broken:
            if not channel:
                continue
            try:
                gateway = await self.workspaces.for_shop(shop_id)
                if gateway.installation.token() is None:
                    # Not connected (no workspace of its own and no SLACK_BOT_TOKEN), or its workspace
                    # removed Zora: nothing to ask Slack until it is added again.
                    continue
                info = await gateway.conversations_info(channel=channel)
            except SlackApiError:
                continue  # still broken; the error stays visible in `zora doctor`
            if info["channel"].get("is_archived") or info["channel"].get("is_member") is False:
                continue
            async with self.pool.acquire() as conn:
                await sshops.clear_slack_error(conn, shop_id)
            log.info("Slack works again for shop %s; delivering what waited", shop_id)
            healed.append(shop_id)
        return healed
