"""What a shopper may upload in one shop: the shop's own limits (settings page) within the deployment's
(FILE_MAX_BYTES and the types Zora can check by their content)."""

from __future__ import annotations

from dataclasses import dataclass

from zora.files import ALLOWED_TYPES
from zora.settings import Settings
from zora.shop_settings import ShopSettings


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int
    types: tuple[str, ...]


def file_limits(settings: Settings, shop: ShopSettings) -> FileLimits:
    """The smaller size of the two and the shop's types (always among those Zora checks)."""
    max_bytes = settings.file_max_bytes
    if shop.file_max_mb is not None:
        max_bytes = min(max_bytes, int(shop.file_max_mb * 1024 * 1024))
    types = tuple(t for t in ALLOWED_TYPES if shop.file_types is None or t in shop.file_types)
    return FileLimits(max_bytes=max_bytes, types=types)
