"""Rate limits at every public door, counted in Redis so they hold across web nodes.

The counting is the `limits` library's sliding-window counter on Redis (two keys per rule and
subject, no per-hit lists, so a per-shop rule of thousands a minute stays small). Each rule is a
setting in the library's notation ("30/minute", "20 per hour"); the defaults are far above what a
real shopper, agent or shop does (docs/operations.md lists them), so only floods meet them.

When Redis cannot be reached the doors stay open (logged): refusing every shopper because the
counter is down would be an outage of its own, and Redis down is already an alert.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from zora import metrics
from zora.errors import ZoraError
from zora.settings import RATE_SETTINGS, Settings

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# An upload in flight longer than this is a crashed holder's: its bytes are forgotten.
IN_FLIGHT_TTL_SECONDS = 900
# Uploads in flight finish within seconds: ask to try again soon.
IN_FLIGHT_RETRY_SECONDS = 5


class RateLimited(ZoraError):
    """Over a limit: try again in `retry_after` seconds."""

    def __init__(self, rule: str, retry_after: int) -> None:
        super().__init__(f"rate limit {rule} reached; retry after {retry_after}s")
        self.rule = rule
        self.retry_after = retry_after


def parse_networks(values: Iterable[str]) -> list[Network]:
    """TRUSTED_PROXIES: addresses or CIDR ranges whose X-Forwarded-For is believed."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def client_address(remote: str | None, forwarded_for: str | None, trusted: list[Network]) -> str:
    """The address a request came from. X-Forwarded-For is read only when the direct peer is a
    trusted proxy, and then from the right, skipping trusted hops: the first address a trusted
    proxy saw is the client (anything to its left was written by the client itself)."""
    peer = remote or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not hop:
            continue
        if not _is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
        peer = hop
    return peer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


# The `limits` library's key layout for a sliding window (its Redis storage's default prefix, and the
# braces that keep both windows on one cluster node), so its get_window_stats reads what ACQUIRE_ALL
# counted; tests/security/test_rate_limits.py checks the two agree.
_KEY_PREFIX = "LIMITS"


def _current_window_key(key: str) -> str:
    return f"{_KEY_PREFIX}:{{{key}}}"


def _previous_window_key(key: str) -> str:
    return f"{_KEY_PREFIX}:{{{key}}}/-1"


# The library's sliding-window acquire (one window per call, so one round trip per rule) applied to
# each window in turn inside one script: KEYS are (previous, current) pairs, ARGV (limit, expiry
# seconds, amount) triples. Stops at the first window over its limit and returns its 1-based index
# (the windows before it are counted, the one refused and those after it are not, as with one call
# per window); 0 when every window took the hit. Times in milliseconds.
ACQUIRE_ALL = """
for i = 1, #KEYS / 2 do
    local previous_key = KEYS[2 * i - 1]
    local current_key = KEYS[2 * i]
    local limit = tonumber(ARGV[3 * i - 2])
    local expiry = tonumber(ARGV[3 * i - 1]) * 1000
    local amount = tonumber(ARGV[3 * i])
    if amount > limit then
        return i
    end
    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        -- The current window is over: it becomes the previous one.
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = tonumber(redis.call('pttl', previous_key)) or 0
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = tonumber(redis.call('pttl', current_key)) or 0
    if previous_ttl < 0 then
        previous_ttl = 0
    end
    if current_ttl < 0 then
        current_ttl = 0
    end
    local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
    if weighted + amount > limit then
        return i
    end
    if redis.call('exists', current_key) == 1 then
        redis.call('incrby', current_key, amount)
    else
        redis.call('set', current_key, amount, 'PX', expiry * 2)
    end
end
return 0
"""


# (rule, subject): a rule is the name of its setting (RATE_*), the subject what it counts against:
# an address, a shopper, a conversation, a shop, a Slack user.
Hit = tuple[str, str]


class Limiter:
    """Counts hits against the configured rules in Redis and refuses what is over."""

    def __init__(self, redis: Any, settings: Settings) -> None:
        # Validated with the settings (Settings._rate).
        self._items: dict[str, RateLimitItem] = {name: parse(getattr(settings, name)) for name in RATE_SETTINGS}
        self.trusted_proxies = parse_networks(settings.trusted_proxies)
        # Shares Zora's own Redis connection pool (its timeouts included).
        storage = RedisStorage(
            "async+redis://localhost:6379", implementation="redispy", connection_pool=redis.connection_pool
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._redis = redis
        # Every window of a request in one round trip (an opening counts six or more).
        self._acquire_all = redis.register_script(ACQUIRE_ALL)

    async def hit(self, *hits: Hit, shop_items: dict[str, RateLimitItem] | None = None) -> None:
        """Count each hit; raise RateLimited for the first one over its rule (the ones after it are
        not counted then). `shop_items`: a shop's own stricter rules, counted after the deployment's
        rule of the same name against the same subject (zora/shop_limits.py)."""
        counted: list[tuple[str, RateLimitItem, str]] = []
        for rule, subject in hits:
            counted.append((rule, self._items[rule], subject))
            if shop_items and rule in shop_items:
                counted.append((f"shop_{rule}", shop_items[rule], subject))
        if not counted:
            return
        keys: list[str] = []
        args: list[int] = []
        for rule, item, subject in counted:
            key = item.key_for(rule, subject)
            keys += [_previous_window_key(key), _current_window_key(key)]
            args += [item.amount, item.get_expiry(), 1]
        try:
            refused = int(await self._acquire_all(keys=keys, args=args))
            if not refused:
                return
            rule, item, subject = counted[refused - 1]
            stats = await self._limiter.get_window_stats(item, rule, subject)
        except Exception:
            log.warning("rate limits %s not checked: Redis did not answer", [c[0] for c in counted], exc_info=True)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        log.info("rate limit %s reached for %s", rule, subject)
        metrics.RATE_LIMITED.labels(rule).inc()
        raise RateLimited(rule, retry_after)

    @contextlib.asynccontextmanager
    async def in_flight(self, subject: str, amount: int, cap: int) -> AsyncIterator[None]:
        """Hold `amount` (bytes) against `subject` while the block runs; RateLimited when that would
        take it over `cap`. A concurrency cap, which the `limits` library does not count: a Redis
        counter, with an expiry so what a crashed process held is freed."""
        key = f"zora:inflight:{subject}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                pipe.expire(key, IN_FLIGHT_TTL_SECONDS)
                total, _ = await pipe.execute()
        except Exception:
            log.warning("in-flight limit not checked: Redis did not answer", exc_info=True)
            yield
            return
        if int(total) > cap:
            await self._release(key, amount)
            metrics.RATE_LIMITED.labels("in_flight").inc()
            raise RateLimited("in_flight", IN_FLIGHT_RETRY_SECONDS)
        try:
            yield
        finally:
            await self._release(key, amount)

    async def _release(self, key: str, amount: int) -> None:
        try:
            await self._redis.decrby(key, amount)
        except Exception:
            log.warning("in-flight count not released (it expires by itself)", exc_info=True)

    def address(self, remote: str | None, forwarded_for: str | None) -> str:
        return client_address(remote, forwarded_for, self.trusted_proxies)
