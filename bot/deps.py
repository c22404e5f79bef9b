"""What listeners need from Zora, handed to them through bolt's context."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError

from zora.db import Pool
from zora.missed_replies import MissedReplies
from zora.models import Author
from zora.push import Emitter
from zora.services import Services
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackGateway, SlackWorkspaces
from zora.temporal import Conversations

log = logging.getLogger(__name__)


@dataclass
class BotDeps:
    pool: Pool
    redis: aioredis.Redis
    slack: SlackGateway
    emitter: Emitter
    # Signals, updates and queries of the conversations' workflows (zora/temporal.py).
    conversations: Conversations
    # Replies for shoppers who are not connected go to MissedRepliesWorkflow (zora/missed_replies.py).
    missed_replies: MissedReplies | None = None
    # The shop's Shopify customers, for /zora search (zora/shopify/customers.py).
    directory: CustomerDirectory | None = None
    # Largest file copied from Slack for a shopper (FILE_MAX_BYTES).
    file_max_bytes: int = 10 * 1024 * 1024
    # How long who-may-act-for-which-shop is remembered (SLACK_ACCESS_CACHE_SECONDS, bot/access.py).
    access_cache_seconds: float = 60.0
    # Each workspace's gateway ("Add to Slack"); None: `slack` serves every request.
    workspaces: SlackWorkspaces | None = None
    _authors: dict[str, Author] = field(default_factory=dict)

    async def for_team(self, team_id: str | None, enterprise_id: str | None) -> BotDeps:
        """These deps with the gateway of the workspace a request came from."""
        if self.workspaces is None:
            return self
        slack = await self.workspaces.for_team(team_id, enterprise_id)
        return self if slack is self.slack else replace(self, slack=slack, workspaces=None)

    @classmethod
    def from_services(cls, services: Services, emitter: Emitter) -> BotDeps:
        return cls(
            pool=services.pool,
            redis=services.redis,
            slack=services.slack,
            emitter=emitter,
            conversations=Conversations.from_settings(services.temporal, services.settings),
            missed_replies=MissedReplies.from_settings(
                services.redis, services.temporal, services.settings, services.pool
            ),
            directory=CustomerDirectory(services.pool, services.settings),
            file_max_bytes=services.settings.file_max_bytes,
            access_cache_seconds=services.settings.slack_access_cache_seconds,
            workspaces=SlackWorkspaces(services.slack, services.pool, services.settings)
            if services.settings.slack_client_id
            else None,
        )

    async def author(self, user_id: str) -> Author:
        """An agent as shoppers see them: Slack display name and avatar, cached per process."""
        cached = self._authors.get(user_id)
        if cached is not None:
            return cached
        try:
            response = await self.slack.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            return Author(name="Support")
        user = response["user"]
        profile = user.get("profile", {})
        name = profile.get("display_name") or profile.get("real_name") or user.get("name") or "Support"
        author = Author(name=name, avatar_url=profile.get("image_72"))
        self._authors[user_id] = author
        return author
