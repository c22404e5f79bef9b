"""docs/settings.md names every shop setting the settings page offers."""

from __future__ import annotations

from pathlib import Path

from zora.shop_settings import AssistantSettings, ShopSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_shop_setting_is_documented() -> None:
    text = DOC.read_text()
    names = [name for name in ShopSettings.model_fields if name != "assistant"]
    names += [f"assistant.{name}" for name in AssistantSettings.model_fields]
    missing = [name for name in names if f"| `{name}` |" not in text]
    assert not missing, f"docs/settings.md does not describe: {missing}"
