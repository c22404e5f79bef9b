"""Rules for every Slack request: ignore bots, and handle each event once however often Slack retries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.deps import BotDeps

log = logging.getLogger(__name__)

# Slack retries for up to about an hour; remember event ids a little longer than that.
EVENT_ID_TTL_SECONDS = 2 * 3600

Next = Callable[[], Awaitable[None]]


def _event_id_key(event_id: str) -> str:
    return f"slack:event:{event_id}"


def _handled() -> BoltResponse:
    # Slack needs a 2xx or it retries; there is nothing more to do for this event.
    return BoltResponse(status=200, body="")


def from_a_bot(message: Mapping[str, Any]) -> bool:
    """Our own posts and other apps' posts: never a reply to a shopper (events and fetched history alike)."""
    return bool(message.get("bot_id") or message.get("subtype") == "bot_message" or message.get("bot_profile"))


def register_middleware(app: AsyncApp, deps: BotDeps) -> None:
    @app.middleware
    async def provide_deps(context: AsyncBoltContext, next: Next) -> None:
        context["deps"] = deps
        await next()

    @app.middleware
    async def ignore_bots(body: dict[str, Any], next: Next) -> BoltResponse | None:
        if body.get("type") == "event_callback" and from_a_bot(body.get("event") or {}):
            return _handled()
        await next()
        return None

    @app.middleware
    async def dedupe_events(body: dict[str, Any], next: Next) -> BoltResponse | None:
        event_id = body.get("event_id")
        if body.get("type") != "event_callback" or not event_id:
            await next()
            return None
        key = _event_id_key(str(event_id))
        # Fails open: this check only saves work. The transcript's unique (channel, ts) is what keeps a
        # reply single, so an event handled twice is harmless, while one refused because Redis is down
        # is lost once Slack stops retrying.
        reachable = True
        try:
            seen = bool(await deps.redis.exists(key))
        except (RedisError, OSError) as exc:
            log.warning("event de-duplication skipped, Redis unavailable: %r", exc)
            # Not marked afterwards either: Redis just failed, and waiting for it again helps nobody.
            reachable, seen = False, False
        if seen:
            return _handled()
        await next()
        if not reachable:
            return None
        # Marked only after the listener made the work durable, so a failure is retried by Slack.
        # Two deliveries racing past this check still give one message: the transcript is unique
        # on (channel, ts).
        try:
            await deps.redis.set(key, "1", ex=EVENT_ID_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            log.warning("could not remember Slack event %s, Redis unavailable: %r", event_id, exc)
        return None
