"""Keeps one widget socket's events in order without keeping anything per socket once they are done."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class SocketLocks:
    """One lock per socket, existing only while one of its events is handled or waiting.

    Order needs a lock only between events that overlap; an event with nothing before it finds no
    lock and makes one, the last one out removes it. So nothing is left per socket once its events
    are done, whatever the order of disconnect and late events (a handler that starts after
    `disconnect` would otherwise leave a lock behind for a socket that is gone)."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.asynccontextmanager
    async def hold(self, sid: str) -> AsyncIterator[None]:
        held = self._held.get(sid)
        if held is None:
            held = self._held[sid] = _Held()
        # Counted before waiting: a waiter keeps the lock alive for the events queued behind it.
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0 and self._held.get(sid) is held:
                del self._held[sid]
