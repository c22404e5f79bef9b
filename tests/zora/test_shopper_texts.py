"""The built-in shopper texts (zora/shopper_texts.py): the widget's languages, every text in each."""

from __future__ import annotations

import pytest

from tests.widget.test_bundle import LANGUAGES as WIDGET_LANGUAGES
from zora.shop_settings import LanguageTexts, ShopSettings
from zora.shopper_texts import BUILT_IN, LANGUAGES, OVERRIDABLE, match_language, pick_language


def test_the_server_speaks_the_widgets_languages_with_every_text() -> None:
    assert set(LANGUAGES) == set(BUILT_IN) == WIDGET_LANGUAGES
    keys = set(BUILT_IN["en"])
    for lang, table in BUILT_IN.items():
        assert set(table) == keys, lang
        if lang != "en":
            assert sum(table[k] == BUILT_IN["en"][k] for k in keys) == 0, f"{lang} copies English"
    # Each text a merchant may override exists: in the widget (greeting, away) or here.
    assert set(OVERRIDABLE) - keys == {"greeting", "away"}
    assert set(OVERRIDABLE) == set(LanguageTexts.model_fields)


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("fr-CA", "fr"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-TW", None),
        ("DE_at", "de"),
        ("pt-BR", None),
        ("", None),
    ],
)
def test_locales_match_as_the_widget_matches_them(tag: str, lang: str | None) -> None:
    assert match_language(tag) == lang


def test_overrides_come_first_then_the_shops_default_then_zoras_own() -> None:
    settings = ShopSettings.model_validate(
        {
            "languages": ["es"],
            "texts": {"fr": {"closing": "Fermé."}, "default": {"closing": "Closed.", "confirm_intro": "?"}},
        }
    )
    assert settings.words_for("fr")("closing") == "Fermé."
    assert settings.words_for("de")("closing") == "Closed."
    assert settings.words_for("de")("missed_subject", shop="S") == "S: eine neue Antwort auf Ihre Nachricht"
    assert pick_language("pt", settings.languages) == "es"
    # An override is used as written: braces are the merchant's text, not placeholders.
    braces = ShopSettings.model_validate({"texts": {"en": {"missed_intro": "Hi {name}!"}}})
    assert braces.words_for("en")("missed_intro", shop="S") == "Hi {name}!"


def test_a_subject_stored_with_a_line_break_cannot_add_a_header() -> None:
    # Written by hand in SQL, past the settings page's check: the mail still has one line of subject.
    from datetime import UTC, datetime
    from uuid import uuid4

    from zora.mail import confirmation_email, digest_email
    from zora.models import Author, StoredMessage
    from zora.shopper_texts import words

    hostile = words(
        "fr", {"missed_subject": "Salut\r\nBcc: eve@example.com", "confirm_subject": "x\nCc: eve@example.com"}
    )
    reply = StoredMessage(
        conversation_id=uuid4(),
        seq=2,
        client_id=None,
        direction="agent",
        author=Author(name="Ada"),
        body="Oui",
        created_at=datetime.now(UTC),
        status="stored",
    )
    digest = digest_email(
        shop_name="S",
        to_address="ana@example.com",
        to_name=None,
        messages=[reply],
        link="https://x",
        message_id="<a@b>",
        w=hostile,
    )
    confirm = confirmation_email(shop_name="S", to_address="ana@example.com", link="https://x", w=hostile)
    for mail in (digest, confirm):
        assert "Bcc" not in mail and "Cc" not in mail
        assert "\n" not in str(mail["Subject"]) and "eve@example.com" in str(mail["Subject"])
