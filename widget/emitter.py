"""Pushing to shoppers from any process, through socket.io's Redis manager (zora.push.Emitter)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
import socketio

from zora.identity import sockets_key
from zora.services import redis_timeouts
from zora.settings import Settings

log = logging.getLogger(__name__)

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

    async def disconnect(self, sid: str) -> None:
        """Closes a socket on whichever web node holds it: the message socket.io's own Redis managers
        publish for `disconnect` (a write-only manager has no server to run it locally first)."""
        await self._manager._publish(
            {"method": "disconnect", "sid": sid, "namespace": NAMESPACE, "host_id": self._manager.host_id}
        )

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


async def close_shopper_sockets(
    redis: aioredis.Redis, disconnect: Callable[[str], Awaitable[None]], shopper_ids: Iterable[UUID | str]
) -> int:
    """Closes every socket opened with these shoppers' tokens (their tokens were just revoked), on any
    web node: the namespace lists each socket under its shopper in Redis. Returns how many."""
    closed = 0
    for shopper_id in shopper_ids:
        try:
            sids = await redis.smembers(sockets_key(shopper_id))
        except Exception:
            # The tokens are revoked already: these sockets cannot reconnect, only stay open until they drop.
            log.exception("could not list a revoked shopper's sockets")
            continue
        for sid in sids:
            try:
                await disconnect(sid.decode() if isinstance(sid, bytes) else str(sid))
                closed += 1
            except Exception:
                log.exception("could not close a revoked shopper's socket")
    return closed
