"""What a shopper-facing text is written from: the shop's settings and the shopper's language (the locale
the widget sent with the conversation's first message, or with the shopper's pre-chat form)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from zora.db import Executor


@dataclass(frozen=True)
class LanguageContext:
    settings: dict[str, Any] | None
    # This conversation's locale, else the shopper's latest one; None when the widget never said.
    locale: str | None


async def language_context(
    conn: Executor, shop_id: int, shopper_id: UUID, conversation_id: UUID | None = None
) -> LanguageContext:
    row = await conn.fetchrow(
        "SELECT s.settings, (SELECT c.locale FROM conversations c"
        "  WHERE c.shop_id = s.id AND c.shopper_id = $2 AND c.locale IS NOT NULL"
        "  ORDER BY c.id = $3 DESC, c.created_at DESC LIMIT 1) AS locale"
        " FROM shops s WHERE s.id = $1",
        shop_id,
        shopper_id,
        conversation_id,
    )
    if row is None:
        return LanguageContext(settings=None, locale=None)
    return LanguageContext(settings=row["settings"], locale=row["locale"])
