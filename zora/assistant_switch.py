"""Whether a shop's assistant is on, as the web process asks it for every shopper message (issue 12 §2).

A shop without the assistant must pay nothing for it on the shopper's path: the answer is remembered a
short while per process, so the usual message costs a dictionary lookup, and a merchant's change takes
effect within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from zora.db import Pool
from zora.shop_settings import parse_settings
from zora.store import shops as sshops

# Shops remembered at once (least recently asked forgotten first).
_CAPACITY = 10_000


class AssistantSwitch:
    def __init__(self, pool: Pool, ttl: float = 10.0) -> None:
        self.pool = pool
        self.ttl = ttl
        self._known: OrderedDict[int, tuple[bool, float]] = OrderedDict()

    async def enabled(self, shop_id: int) -> bool:
        now = time.monotonic()
        known = self._known.get(shop_id)
        if known is not None and known[1] > now:
            self._known.move_to_end(shop_id)
            return known[0]
        async with self.pool.acquire() as conn:
            enabled = parse_settings(await sshops.settings(conn, shop_id)).assistant.enabled
        self._known[shop_id] = (enabled, now + self.ttl)
        self._known.move_to_end(shop_id)
        while len(self._known) > _CAPACITY:
            self._known.popitem(last=False)
        return enabled
