"""The settings page without a server: docs/settings.md names every shop setting; who may frame the page."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from zora.admin import admin_page
from zora.app.web import create_app
from zora.settings import Settings
from zora.shop_settings import AssistantSettings, LanguageTexts, ShopRateLimits, ShopSettings
from zora.widget_look import WidgetLook

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_shop_setting_is_documented() -> None:
    text = DOC.read_text()
    names = [name for name in ShopSettings.model_fields if name not in ("assistant", "look", "texts", "rate_limits")]
    names += [f"rate_limits.{name}" for name in ShopRateLimits.model_fields]
    names += [f"assistant.{name}" for name in AssistantSettings.model_fields]
    names += [f"look.{name}" for name in WidgetLook.model_fields]
    names += ["texts.<language>.<text>"]
    missing = [name for name in names if f"| `{name}` |" not in text]
    # Each text a merchant may write per language is named in that row.
    missing += [f"texts.*.{name}" for name in LanguageTexts.model_fields if f"`{name}`" not in text]
    assert not missing, f"docs/settings.md does not describe: {missing}"


def test_the_page_may_be_framed_by_shopify_admin_and_the_shop_only() -> None:
    def policy(**overrides: Any) -> str:
        settings = Settings(_env_file=None, shopify_api_key="key", **overrides)  # type: ignore[call-arg]
        page = admin_page(SimpleNamespace(settings=settings), "a-shop.myshopify.com")  # type: ignore[arg-type]
        return page.headers["Content-Security-Policy"]

    # Production: the admin base URL is per shop, and adds nothing.
    assert policy() == "frame-ancestors https://admin.shopify.com https://a-shop.myshopify.com"
    # zora dev: the stand-in admin frame's origin.
    assert policy(shopify_admin_base_url="http://127.0.0.1:8091/shops/{shop}").endswith(" http://127.0.0.1:8091")


def test_the_apps_application_url_is_the_settings_page() -> None:
    config = tomllib.loads((DOC.parents[1] / "shopify.app.toml").read_text())
    path = urlsplit(config["application_url"]).path
    app = create_app(Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"))  # type: ignore[call-arg]
    served = {route.resource.canonical for route in app.router.routes() if route.resource is not None}
    assert path == "/admin" and path in served


def test_the_page_shows_every_assistant_setting() -> None:
    # A setting the page leaves out can only be set through the API: merchants never see it.
    import re

    page = (DOC.parents[1] / "zora" / "static" / "admin.html").read_text()
    shown = set(re.findall(r'data-path="([^"]+)"', page))
    errors = set(re.findall(r'data-error-for="([^"]+)"', page))
    for name in AssistantSettings.model_fields:
        assert f"assistant.{name}" in shown, f"the settings page has no field for assistant.{name}"
        assert f"assistant.{name}" in errors, f"the settings page has no place for assistant.{name}'s errors"
