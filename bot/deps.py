"""What listeners need from Zora, handed to them through bolt's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from temporalio.client import Client

from zora.models import ConversationConfig
from zora.services import Services


@dataclass
class BotDeps:
    pool: Any
    redis: aioredis.Redis
    temporal: Client
    task_queue: str
    conversation_config: ConversationConfig

    @classmethod
    def from_services(cls, services: Services) -> BotDeps:
        return cls(
            pool=services.pool,
            redis=services.redis,
            temporal=services.temporal,
            task_queue=services.settings.temporal_task_queue,
            conversation_config=ConversationConfig(idle_close_seconds=services.settings.idle_close_hours * 3600),
        )
