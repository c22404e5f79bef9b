"""What the assistant tells the shopper when it hands the conversation to a person (issue 12 §5).

The same words as the widget's "Talk to a person" button says once pressed (widget/src/assistant-i18n.js,
`asked`), so a shopper who asked in words is told what one who pressed it sees. Kept beside the widget's
copy rather than in zora/shopper_texts.py: the shop cannot override them (no settings field names them).
"""

from __future__ import annotations

from uuid import UUID

from zora.shopper_texts import pick_language

PERSON_JOINS = {
    "en": "A person will join the chat soon.",
    "zh-CN": "人工客服将很快加入对话。",
    "es": "Una persona se unirá pronto al chat.",
    "fr": "Une personne va bientôt rejoindre la conversation.",
    "de": "Gleich meldet sich ein Mensch im Chat.",
    "ja": "まもなくスタッフが対応します。",
}


def person_joins(locale: str | None, shop_languages: list[str] | tuple[str, ...]) -> str:
    """The notice in the conversation's language (the widget's), else the shop's first language."""
    return PERSON_JOINS.get(pick_language(locale, shop_languages), PERSON_JOINS["en"])


def handover_notice_id(conversation_id: UUID) -> str:
    """The notice's client id: one per conversation (the assistant hands over once), so a retried
    handover finds it instead of storing it again."""
    return f"handover:{conversation_id}"
