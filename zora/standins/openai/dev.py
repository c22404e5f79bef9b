"""`zora dev` without OPENAI_BASE_URL: the demo model on loopback."""

from __future__ import annotations

import contextlib
from typing import Any

from zora.settings import Settings
from zora.standins.openai.standin import OpenAIStandIn

DEV_API_KEY = "sk-zora-dev-standin"
DEV_MODEL = "zora-demo"


async def model_standin(
    stack: contextlib.AsyncExitStack, settings: Settings, port: int = 0
) -> tuple[str | None, dict[str, Any]]:
    """The stand-in, started until the stack closes, when OPENAI_BASE_URL is unset: (its base URL, the
    settings that point Zora at it); (None, {}) when the settings name a model server."""
    if settings.openai_base_url is not None:
        return None, {}
    standin = OpenAIStandIn(api_key=DEV_API_KEY)
    await standin.start(port=port)
    stack.push_async_callback(standin.stop)
    return standin.base_url, {
        "openai_base_url": standin.base_url,
        "openai_api_key": DEV_API_KEY,
        "openai_model": DEV_MODEL,
    }
