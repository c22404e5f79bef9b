"""Issue 11 §3: the shop's languages, per-language texts and the widget's look through the settings API:
each bad field refused by name with a clear message (nothing stored), good ones stored and served."""

from __future__ import annotations

from typing import Any

import pytest

from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import call, current, stored

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"languages": ["en", "pt"]}, "languages", "'pt' is not a language Zora speaks"),
    ({"languages": ["fr", "fr"]}, "languages", "each language only once"),
    ({"languages": []}, "languages", "at least 1 item"),
    ({"texts": {"klingon": {"greeting": "nuqneH"}}}, "texts", "not a language Zora speaks"),
    (
        {"texts": {"fr": {"missed_subject": "Bonjour\r\nBcc: victim@example.com"}}},
        "texts.fr.missed_subject",
        "one line",
    ),
    ({"texts": {"de": {"confirm_subject": "x" * 151}}}, "texts.de.confirm_subject", "at most 150"),
    ({"texts": {"default": {"closing": "x" * 1001}}}, "texts.default.closing", "at most 1000"),
    ({"texts": {"fr": {"signature": "Bisous"}}}, "texts.fr.signature", "unknown setting"),
    ({"look": {"color": "red"}}, "look.color", "must be a colour like #1f6feb"),
    ({"look": {"color": "#12345"}}, "look.color", "must be a colour like #1f6feb"),
    ({"look": {"position": "top"}}, "look.position", "'right' or 'left'"),
    ({"look": {"launcher_text": "Chat\nnow"}}, "look.launcher_text", "one line"),
    ({"look": {"launcher_text": "x" * 41}}, "look.launcher_text", "at most 40"),
    ({"look": {"logo_url": "http://cdn.example.com/logo.png"}}, "look.logo_url", "must start with https://"),
    ({"look": {"logo_url": "javascript:alert(1)"}}, "look.logo_url", "must start with https://"),
    ({"look": {"logo_url": 'https://cdn.example.com/a".png'}}, "look.logo_url", "no spaces or quotes"),
    ({"look": {"logo_url": "https://10.0.0.1/logo.png"}}, "look.logo_url", "not an IP address"),
    ({"look": {"logo_url": "https://user:pw@cdn.example.com/l.png"}}, "look.logo_url", "without a user name"),
    ({"look": {"logo_url": "https://intranet/logo.png"}}, "look.logo_url", "public host name"),
    ({"look": {"shadow": True}}, "look.shadow", "unknown setting"),
    ({"file_max_mb": 0}, "file_max_mb", "greater than or equal to 0.1"),
    ({"file_max_mb": 101}, "file_max_mb", "less than or equal to 100"),
    ({"file_types": ["text/html"]}, "file_types", "'text/html' is not a type Zora accepts"),
    ({"file_types": []}, "file_types", "at least 1 item"),
    ({"escalation_mention": "everyone"}, "escalation_mention", "should match pattern"),
    ({"escalation_minutes": 10, "reminder_minutes": 15}, "settings", "escalation_minutes must be more than"),
    (
        {"rate_limits": {"messages_per_shopper_per_minute": 0}},
        "rate_limits.messages_per_shopper_per_minute",
        "greater than or equal to 1",
    ),
    (
        {"rate_limits": {"uploads_per_conversation_per_10_minutes": 1.5}},
        "rate_limits.uploads_per_conversation_per_10_minutes",
        "valid integer",
    ),
    ({"rate_limits": {"per_day": 5}}, "rate_limits.per_day", "unknown setting"),
    ({"offline_email_minutes": 0.5}, "offline_email_minutes", "greater than or equal to 1"),
    ({"offline_email_minutes": 20000}, "offline_email_minutes", "less than or equal to 10080"),
    ({"offline_email_minutes": "soon"}, "offline_email_minutes", "valid number"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
async def test_a_bad_language_text_or_look_is_refused_by_name(
    sz: ShopifyZora, change: dict[str, Any], field: str, message: str
) -> None:
    base = await current(sz)
    before = await stored(sz)
    status, answer = await call(
        sz, "PUT", "settings", {"version": base["version"], "settings": {**base["settings"], **change}}
    )
    assert status == 422, answer
    assert message in answer["errors"][field], answer["errors"]
    assert await stored(sz) == before


async def test_languages_texts_and_look_are_stored_and_given_back(sz: ShopifyZora) -> None:
    base = await current(sz)
    assert base["settings"]["languages"] == ["en"] and base["settings"]["texts"] == {}
    assert base["settings"]["look"] == {
        "color": "#1f6feb",
        "position": "right",
        "launcher_text": None,
        "logo_url": None,
    }
    change = {
        "languages": ["fr", "en"],
        # A language whose texts are all empty is no override at all.
        "texts": {"fr": {"closing": "Au revoir", "missed_subject": "  Du nouveau  "}, "de": {"greeting": ""}},
        "look": {
            "color": "#AA3300",
            "position": "left",
            "launcher_text": "Aide",
            "logo_url": "https://cdn.example.com/l.png",
        },
    }
    status, answer = await call(
        sz, "PUT", "settings", {"version": base["version"], "settings": {**base["settings"], **change}}
    )
    assert status == 200, answer
    settings = (await current(sz))["settings"]
    assert settings["languages"] == ["fr", "en"]
    assert settings["texts"] == {
        "fr": {**dict.fromkeys(settings["texts"]["fr"]), "closing": "Au revoir", "missed_subject": "Du nouveau"}
    }
    assert settings["look"] == {**change["look"], "color": "#aa3300"}
