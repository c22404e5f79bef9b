"""Who is connected, and handing agent replies a shopper may miss to MissedRepliesWorkflow (the offline email).

An agent reply is pushed to the conversation's room at once. Most shoppers are online and their
widget acknowledges it (`delivered`, then `seen`), so the Slack → shopper path must not pay for a
Temporal signal per message. It pays one Redis ZCOUNT instead:

- Presence is a Redis sorted set per conversation: one member per connected socket, scored with
  the time it stops counting. Each web process refreshes its own sockets' scores (a crashed process
  stops refreshing, and its sockets fall out within `PRESENCE_TTL`), so presence works across web
  nodes without sticky state.
- A reply for a conversation with nobody connected starts (or signals) `deliver:{conversation}`.
- A socket that leaves while replies are unseen (closed tab, or a dead connection noticed by
  Engine.IO's ping timeout) does the same from the web process's disconnect handler.

Ordering makes the two checks cover the race between them: the reply is committed before presence
is read, and a socket is removed from presence before the disconnect handler reads the receipts,
so at least one of them sees the other.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from temporalio.client import Client

from zora.db import Pool
from zora.models import ConversationRef, MissedRepliesConfig
from zora.settings import Settings
from zora.shop_settings import parse_settings
from zora.store import shops as sshops
from zora.temporal import start_missed_replies

log = logging.getLogger(__name__)

PRESENCE_TTL = 120.0
PRESENCE_REFRESH = 40.0


def presence_key(conversation_id: object) -> str:
    return f"zora:presence:{conversation_id}"


class Presence:
    def __init__(self, redis: aioredis.Redis, ttl: float = PRESENCE_TTL) -> None:
        self.redis = redis
        self.ttl = ttl

    async def join(self, conversation_id: object, member: str) -> None:
        key = presence_key(conversation_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member: time.time() + self.ttl})
            pipe.expire(key, int(self.ttl) + 60)
            await pipe.execute()

    async def leave(self, conversation_id: object, member: str) -> int:
        """Removes the socket; returns how many sockets of the conversation are still connected."""
        key = presence_key(conversation_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(key, member)
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.zcard(key)
            results: list[Any] = await pipe.execute()
        return int(results[-1])

    async def online(self, conversation_id: object) -> bool:
        count = await self.redis.zcount(presence_key(conversation_id), f"({time.time()}", "+inf")
        return int(count) > 0

    async def refresh(self, members: list[tuple[object, str]]) -> None:
        """Keeps this process's sockets counted (called every PRESENCE_REFRESH seconds)."""
        if not members:
            return
        until = time.time() + self.ttl
        async with self.redis.pipeline(transaction=False) as pipe:
            for conversation_id, member in members:
                key = presence_key(conversation_id)
                pipe.zadd(key, {member: until})
                pipe.expire(key, int(self.ttl) + 60)
            await pipe.execute()


def missed_replies_config(settings: Settings) -> MissedRepliesConfig:
    return MissedRepliesConfig(email_after_seconds=settings.offline_email_after_minutes * 60)


async def shop_config(pool: Pool, shop_id: int, default: MissedRepliesConfig) -> MissedRepliesConfig:
    """The shop's own delay before the email (settings page), read when a wait starts: a change applies
    to the next unseen replies without a restart. The deployment's when the shop set none (or its stored
    settings cannot be read: the email must still go out)."""
    try:
        async with pool.acquire() as conn:
            minutes = parse_settings(await sshops.settings(conn, shop_id)).offline_email_minutes
    except Exception:
        log.exception("shop settings unreadable; the deployment's offline email delay applies")
        return default
    return default if minutes is None else MissedRepliesConfig(email_after_seconds=minutes * 60)


class MissedReplies:
    """The hook where agent replies are stored (bot/listeners/events/message.py)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        temporal: Client,
        task_queue: str,
        config: MissedRepliesConfig,
        pool: Pool | None = None,
    ) -> None:
        self.presence = Presence(redis)
        self.temporal = temporal
        self.task_queue = task_queue
        self.config = config
        # With a pool, each shop's own delay (shop_config); without, the deployment's for every shop.
        self.pool = pool

    @classmethod
    def from_settings(
        cls, redis: aioredis.Redis, temporal: Client, settings: Settings, pool: Pool | None = None
    ) -> MissedReplies:
        return cls(redis, temporal, settings.temporal_task_queue, missed_replies_config(settings), pool)

    async def agent_reply(self, ref: ConversationRef, seq: int) -> bool:
        """Called after the reply is stored and pushed; True when the delivery workflow took it."""
        try:
            if await self.presence.online(ref.conversation_id):
                return False
            config = self.config if self.pool is None else await shop_config(self.pool, ref.shop_id, self.config)
            await start_missed_replies(self.temporal, self.task_queue, ref, config, seq)
            return True
        except Exception:
            # The reply is stored: the shopper still gets it on their next resume. Only the email
            # fallback is lost for it, and a later reply or disconnect starts it again.
            log.exception("could not hand the reply to the missed-replies workflow")
            return False
