"""Pushing to shoppers from any process, through socket.io's Redis manager (zora.push.Emitter)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import socketio

from zora.services import redis_timeouts
from zora.settings import Settings

NAMESPACE = "/widget"


def conversation_room(conversation_id: UUID | str) -> str:
    return f"conv:{conversation_id}"


class ShopperEmitter:
    """Write-only, for workers: publishes through Redis; the web node holding the socket delivers."""

    def __init__(self, redis_url: str, redis_options: dict[str, Any] | None = None) -> None:
        self._manager = socketio.AsyncRedisManager(redis_url, write_only=True, redis_options=redis_options)

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> ShopperEmitter:
        """With the Redis timeouts, so a stalled Redis fails a push (the shopper gets it on `resume`)
        instead of hanging the activity or request that pushes; `url` overrides REDIS_URL."""
        target = url or settings.redis_url
        assert target
        return cls(target, redis_timeouts(settings))

    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None:
        await self._manager.emit(event, data, room=conversation_room(conversation_id), namespace=NAMESPACE)

    async def close(self) -> None:
        redis = getattr(self._manager, "redis", None)
        if redis is not None:
            await redis.aclose()


class ServerEmitter:
    """For the web process: its own socket.io server, whose Redis manager reaches the other nodes."""

    def __init__(self, server: socketio.AsyncServer) -> None:
        self._server = server

    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None:
        await self._server.emit(event, data, room=conversation_room(conversation_id), namespace=NAMESPACE)
