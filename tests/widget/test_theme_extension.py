"""The theme app extension loads the widget with what it needs: the shop, the storefront's language,
and the app proxy path that shopify.app.toml declares."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
EXTENSION = PROJECT / "extensions" / "zora-chat"


def test_app_embed_block_points_the_widget_at_the_app_proxy() -> None:
    block = (EXTENSION / "blocks" / "chat.liquid").read_text()
    proxy = tomllib.loads((PROJECT / "shopify.app.toml").read_text())["app_proxy"]
    assert f"apps/{proxy['subpath']}/session" in block and proxy["prefix"] == "apps"
    for attribute in ("data-shop", "data-proxy", "data-locale", "/widget.js"):
        assert attribute in block
    schema = json.loads(re.search(r"{% schema %}(.*){% endschema %}", block, re.S).group(1))  # type: ignore[union-attr]
    assert schema["target"] == "body"
    labels = json.loads((EXTENSION / "locales" / "en.default.schema.json").read_text())["settings"]
    used = re.findall(r"t:settings\.(\w+)", block)
    assert used and all(key in labels for key in used)
    assert tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())["type"] == "theme"


def test_the_look_is_set_in_one_place_only() -> None:
    # Issue 11 §3: colour, position, launcher text, logo and greetings come from Zora's settings page
    # (the session's `widget.look` and texts); a second set in the theme editor would disagree with it.
    block = (EXTENSION / "blocks" / "chat.liquid").read_text()
    schema = json.loads(re.search(r"{% schema %}(.*){% endschema %}", block, re.S).group(1))  # type: ignore[union-attr]
    ids = {setting.get("id") for setting in schema["settings"]} - {None}
    assert ids == {"zora_url"}
    for attribute in ("data-color", "data-position", "data-greeting", "data-launcher-text"):
        assert attribute not in block
