"""A shop's own, stricter rate limits for its shoppers (settings page, issue 11 §3).

A shop's rule is counted beside the deployment's (RATE_*), never instead of it, so a shop can only
tighten what its shoppers may do: the safe bound is the deployment's limit itself. The message path
must stay at one PostgreSQL round trip (docs/benchmarks.md), so the shop's settings are kept per
process for a few seconds: a saved change applies within SETTINGS_TTL_SECONDS, with no restart."""

from __future__ import annotations

import time

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, parse

from zora.db import Pool
from zora.shop_settings import ShopRateLimits, ShopSettings, parse_settings
from zora.store import shops as sshops

SETTINGS_TTL_SECONDS = 5.0


def shop_items(limits: ShopRateLimits) -> dict[str, RateLimitItem]:
    """The shop's rules by the deployment rule they tighten (same subjects, a name of their own)."""
    items: dict[str, RateLimitItem] = {}
    if limits.messages_per_shopper_per_minute:
        items["rate_messages_per_shopper"] = RateLimitItemPerMinute(limits.messages_per_shopper_per_minute)
    if limits.conversations_per_address_per_hour:
        items["rate_conversations_per_address"] = RateLimitItemPerHour(limits.conversations_per_address_per_hour)
    if limits.uploads_per_conversation_per_10_minutes:
        items["rate_uploads_per_conversation"] = parse(f"{limits.uploads_per_conversation_per_10_minutes}/10 minutes")
    return items


class ShopSettingsCache:
    """Shop settings read at most once per SETTINGS_TTL_SECONDS per shop and process."""

    def __init__(self, pool: Pool, ttl: float = SETTINGS_TTL_SECONDS) -> None:
        self.pool = pool
        self.ttl = ttl
        self._cached: dict[int, tuple[float, ShopSettings]] = {}

    async def get(self, shop_id: int) -> ShopSettings:
        now = time.monotonic()
        found = self._cached.get(shop_id)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        async with self.pool.acquire() as conn:
            raw = await sshops.settings(conn, shop_id)
        try:
            settings = parse_settings(raw)
        except ValueError:
            settings = ShopSettings()  # broken by hand: the deployment's limits still hold
        if len(self._cached) > 10_000:
            self._cached.clear()
        self._cached[shop_id] = (now, settings)
        return settings
