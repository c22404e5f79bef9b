"""Pushing events to a conversation's shoppers: `push` is the one way every process does it.

The events are the models in zora/widget_events.py; the transport (socket.io, directly in the web
process or through Redis from a worker) implements `Emitter` in widget/emitter.py.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from zora.widget_events import ShopperEvent


class Emitter(Protocol):
    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None: ...


async def push(emitter: Emitter, event: ShopperEvent) -> None:
    """Sends `event` to every widget in its conversation's room."""
    await emitter.emit(event.EVENT, event.payload(), event.conversation_id)
