"""What a merchant can set for their shop, with the defaults a new shop gets.

Stored as JSON in shops.settings and validated here on the way in and out: a key that is absent
takes its default, so older rows keep working as settings are added.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ShopSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Agent replies that start with this stay in Slack (internal notes).
    note_prefix: str = Field(default=";;", min_length=1, max_length=10)
    # Nothing written in Slack reaches shoppers; threads only alert the team.
    alerts_only: bool = False
    # Shoppers see the brand instead of the agent's Slack name and picture.
    anonymous_replies: bool = False
    brand_name: str | None = Field(default=None, max_length=80)


def parse_settings(raw: Any) -> ShopSettings:
    """Settings from a shops.settings value (a dict, JSON text, or NULL)."""
    if raw is None:
        return ShopSettings()
    if isinstance(raw, str):
        return ShopSettings.model_validate_json(raw)
    return ShopSettings.model_validate(raw)
