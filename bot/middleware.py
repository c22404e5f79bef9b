"""Rules for every Slack request: ignore bots, and handle each event once however often Slack retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.deps import BotDeps

# Slack retries for up to about an hour; remember event ids a little longer than that.
EVENT_ID_TTL_SECONDS = 2 * 3600

Next = Callable[[], Awaitable[None]]


def _event_id_key(event_id: str) -> str:
    return f"slack:event:{event_id}"


def _handled() -> BoltResponse:
    # Slack needs a 2xx or it retries; there is nothing more to do for this event.
    return BoltResponse(status=200, body="")


def register_middleware(app: AsyncApp, deps: BotDeps) -> None:
    @app.middleware
    async def provide_deps(context: AsyncBoltContext, next: Next) -> None:
        context["deps"] = deps
        await next()

    @app.middleware
    async def ignore_bots(body: dict[str, Any], next: Next) -> BoltResponse | None:
        event = body.get("event") or {}
        if body.get("type") == "event_callback" and (
            event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile")
        ):
            # Our own posts and other apps' posts are never a reply to a shopper.
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
        if await deps.redis.exists(key):
            return _handled()
        await next()
        # Marked only after the listener made the work durable, so a failure is retried by Slack.
        # Two deliveries racing past this check still give one message: the transcript is unique
        # on (channel, ts).
        await deps.redis.set(key, "1", ex=EVENT_ID_TTL_SECONDS)
        return None
