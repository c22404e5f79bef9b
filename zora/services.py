"""Long-lived clients a process needs, opened from settings and closed in reverse order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client

from zora import db
from zora.limits import Limiter
from zora.settings import Settings
from zora.temporal import connect


@dataclass
class Services:
    settings: Settings
    pool: Any
    redis: aioredis.Redis
    temporal: Client
    slack: AsyncWebClient
    # Rate limits of every public door (zora/limits.py), counted in this Redis.
    limiter: Limiter


def slack_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # No retry handlers: Temporal owns retries of Slack calls (429 -> next_retry_delay).
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, retry_handlers=[])


def redis_timeouts(settings: Settings) -> dict[str, Any]:
    """Connect and per-command timeouts for every Redis client Zora builds (the socket.io managers too):
    without them a Redis that accepts connections and never answers hangs whatever waits on it."""
    return {
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "socket_timeout": settings.redis_socket_timeout_seconds,
    }


def redis_client(settings: Settings, url: str | None = None) -> aioredis.Redis:
    """The process's Redis client (`url` overrides REDIS_URL, for tests pointing at a broken Redis)."""
    target = url or settings.redis_url
    assert target
    # Blocking: a burst (hundreds of sockets connecting at once) waits for a free connection
    # instead of failing with "Too many connections" (the plain pool's behaviour at its cap).
    return aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(target, max_connections=100, timeout=10, **redis_timeouts(settings))
    )


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    settings.require("database_url", "redis_url", "temporal_address")
    assert settings.database_url and settings.redis_url and settings.temporal_address
    pool = await db.create_pool(settings.database_url)
    redis = redis_client(settings)
    try:
        temporal = await connect(settings.temporal_address, settings.temporal_namespace)
        yield Services(
            settings=settings,
            pool=pool,
            redis=redis,
            temporal=temporal,
            slack=slack_client(settings),
            limiter=Limiter(redis, settings),
        )
    finally:
        await redis.aclose()
        await pool.close()
