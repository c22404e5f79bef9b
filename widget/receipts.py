"""What a shopper's widget reports back: receipts for agent replies (the pre-chat profile is in zora/identity.py).

The statements are in zora/store/receipts.py: every one is scoped by the shop and conversation from the
shopper's token; a value a client sends can only move its own conversation's watermarks forward, never
past its last message.
"""

from __future__ import annotations

from zora.store.receipts import Receipt, Receipts, reading_state, record, unseen_replies

__all__ = ["Receipt", "Receipts", "reading_state", "record", "unseen_replies"]
