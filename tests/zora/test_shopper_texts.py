"""The built-in shopper texts (zora/shopper_texts.py): the widget's languages, every text in each."""

from __future__ import annotations

import pytest

from tests.widget.test_bundle import LANGUAGES as WIDGET_LANGUAGES
from zora.shop_settings import LanguageTexts, ShopSettings
from zora.shopper_texts import BUILT_IN, LANGUAGES, OVERRIDABLE, match_language, pick_language, words


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


def test_every_language_fills_the_same_placeholders() -> None:
    # A translation that dropped {code} would send a code email without the code.
    from string import Formatter

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in Formatter().parse(text) if name}

    for lang, table in BUILT_IN.items():
        for key, text in table.items():
            assert fields(text) == fields(BUILT_IN["en"][key]), (lang, key)


def test_the_code_email_is_in_the_shoppers_words_with_a_one_line_subject() -> None:
    from zora.identity_codes import code_email

    mail = code_email(
        shop_name="Ours\r\nBcc: eve@example.com", to_address="ana@example.com", code="042917", w=words("ja")
    )
    subject = str(mail["Subject"])
    assert "\n" not in subject and "Bcc" not in mail and subject.endswith("確認コードは 042917 です")
    body = mail.get_content()
    assert "042917" in body and "10分間有効" in body and "Type it" not in body


def test_an_actions_outcome_is_told_in_the_shoppers_words() -> None:
    from uuid import uuid4

    from bot.assistant_actions import shopper_text
    from zora.store.actions import ActionRow

    def told(kind: str, status: str, lang: str, request: dict[str, object] | None = None) -> str:
        action = ActionRow(
            id=uuid4(), shop_id=1, conversation_id=uuid4(), tool_call_id="call_1", kind=kind, shopify_order_id=1,
            order_name="#1001", request=request or {}, status=status, decided_by=None, outcome=None,
            slack_channel=None, slack_ts=None, told_seq=None,
        )  # fmt: skip
        return shopper_text(action, words(lang))

    address = {"address1": "Rua Augusta 1", "city": "Lisboa", "zip": "1100-048", "country_code": "PT"}
    assert told("cancel_order", "done", "fr") == "La commande #1001 a été annulée."
    assert told("address_change", "done", "de", {"address": address}) == (
        "Die Lieferadresse der Bestellung #1001 lautet jetzt: Rua Augusta 1, 1100-048 Lisboa, PT."
    )
    assert told("refund_request", "denied", "es").startswith("Nuestro equipo no pudo aprobar tu solicitud (reembolso")
    assert told("cancel_order", "expired", "zh-CN").startswith("您的请求（取消订单 #1001）未能及时获得批准")  # noqa: RUF001
    assert told("address_change", "failed", "en").startswith(
        "Sorry, we could not carry out your request (new shipping address for order #1001)"
    )
