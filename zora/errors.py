"""One root exception type for everything Zora raises on purpose."""

from __future__ import annotations


class ZoraError(Exception):
    """Base class of Zora's own errors."""


class ConfigError(ZoraError):
    """A setting is missing or wrong; the message names the variable."""
