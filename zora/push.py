"""The interface for pushing events to a conversation's shoppers (implemented in widget/emitter.py)."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID


class Emitter(Protocol):
    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None: ...
