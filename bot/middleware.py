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


# Where dedupe_events leaves the key of an event to remember once it has been handled.
_EVENT_KEY = "zora_event_key"


async def remember_handled_event(context: AsyncBoltContext, response: BoltResponse) -> None:
    """After the listener: an event it handled (2xx) is remembered, so Slack's retries of it do nothing.
    One it failed is not, so the retry runs the listener again. Two deliveries racing past the check
    still give one message: the transcript is unique on (channel, ts)."""
    key = context.get(_EVENT_KEY)
    deps = context.get("deps")
    if not isinstance(key, str) or not isinstance(deps, BotDeps) or not 200 <= response.status < 300:
        return
    try:
        await deps.redis.set(key, "1", ex=EVENT_ID_TTL_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("could not remember Slack event %s, Redis unavailable: %r", key, exc)


def _handled() -> BoltResponse:
    # Slack needs a 2xx or it retries; there is nothing more to do for this event.
    return BoltResponse(status=200, body="")


def from_a_bot(message: Mapping[str, Any]) -> bool:
    """Our own posts and other apps' posts: never a reply to a shopper (events and fetched history alike)."""
    return bool(message.get("bot_id") or message.get("subtype") == "bot_message" or message.get("bot_profile"))


def register_middleware(app: AsyncApp, deps: BotDeps) -> None:
    @app.middleware
    async def provide_deps(context: AsyncBoltContext, next: Next) -> None:
        # Calls a listener makes go to the workspace the request came from (its own installation).
        context["deps"] = await deps.for_team(context.team_id, context.enterprise_id)
        await next()

    @app.middleware
    async def ignore_bots(body: dict[str, Any], next: Next) -> BoltResponse | None:
        if body.get("type") == "event_callback" and from_a_bot(body.get("event") or {}):
            return _handled()
        await next()
        return None

    @app.middleware
    async def dedupe_events(body: dict[str, Any], context: AsyncBoltContext, next: Next) -> BoltResponse | None:
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
        if reachable:
            # Marked by the app once the listener has answered 2xx (remember_handled_event): bolt runs
            # listeners after every middleware has returned, so marking here would mark an event whose
            # listener then fails, and Slack's retry of it would be answered "handled" with nothing done.
            context[_EVENT_KEY] = key
        await next()
        return None
