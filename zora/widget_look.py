"""How the storefront widget looks (issue 11 §3): one place to set it, the settings page. The widget gets
it in its session answer (docs/widget-protocol.md) and the theme app extension has no look settings of its
own, so a merchant never sets the same thing twice."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_COLOR = "#1f6feb"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def check_logo_url(value: str) -> str:
    """An image the shopper's browser loads from the merchant's site: https only (no mixed content, no
    javascript: or data: tricks), a public host name, nothing a quote or space could break out of."""
    if any(ch.isspace() or ch in "\"'<>\\`" for ch in value):
        raise ValueError("must be a plain https:// address (no spaces or quotes)")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("must start with https://")
    if not parts.hostname or parts.username or parts.password:
        raise ValueError("must name a host, without a user name or password")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        pass
    else:
        raise ValueError("must use a host name, not an IP address")
    if "." not in parts.hostname:
        raise ValueError("must use a public host name (like cdn.shopify.com)")
    return value


class WidgetLook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The accent colour (launcher, header, the shopper's bubbles); text on it is black or white, whichever
    # reads better.
    color: str = DEFAULT_COLOR
    position: Literal["right", "left"] = "right"
    # The launcher's name for screen readers and its tooltip (empty: "Chat with us" in the shopper's language).
    launcher_text: str | None = Field(default=None, max_length=40)
    # A square image shown in the widget's header (https only).
    logo_url: str | None = Field(default=None, max_length=2000)

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        if not _COLOR.match(value.strip()):
            raise ValueError("must be a colour like #1f6feb")
        return value.strip().lower()

    @field_validator("launcher_text")
    @classmethod
    def _launcher_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if any(ch < " " for ch in value):
            raise ValueError("must be one line of text")
        return value or None

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_logo_url(value.strip())
