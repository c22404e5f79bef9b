"""The words a shopper gets outside the widget, in their language, with the merchant's overrides."""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import ValidationError

from zora.db import Executor
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopper_texts import Words
from zora.store.shopper_language import language_context

log = logging.getLogger(__name__)


def settings_or_defaults(raw: object) -> ShopSettings:
    """A shopper still gets their email when the stored settings are broken (set by hand): in Zora's words."""
    try:
        return parse_settings(raw)
    except ValidationError:
        log.exception("invalid shop settings; Zora's own texts apply")
        return ShopSettings()


async def shopper_words(
    conn: Executor, shop_id: int, shopper_id: UUID, conversation_id: UUID | None = None, *, locale: str | None = None
) -> Words:
    """`locale`, when the widget just said it, else the one stored with the conversation (or the shopper's
    latest conversation)."""
    found = await language_context(conn, shop_id, shopper_id, conversation_id)
    return settings_or_defaults(found.settings).words_for(locale or found.locale)
