"""Issue 11 §3: a shop's own file limits (`file_max_mb`, `file_types`) within the deployment's: the
session tells the widget, and an upload beyond them is refused with a clear error (no restart)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Zora
from tests.helpers import set_shop_settings
from tests.widget.test_files import PDF, png, upload


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {"file_max_bytes": 1024 * 1024}


async def test_the_shops_limits_are_served_and_enforced(zora: Zora) -> None:
    await set_shop_settings(zora, file_max_mb=0.1, file_types=["image/png"])
    try:
        session = await zora.session()
        assert session["widget"]["files"] == {"max_bytes": 104857, "types": ["image/png"]}
        status, answer = await upload(zora, session["token"], PDF, "application/pdf", "invoice.pdf")
        assert (status, answer["error"]["code"]) == (415, "unsupported_type")
        assert "this shop accepts only image/png" in answer["error"]["message"]
        big = b"\x89PNG\r\n\x1a\n" + b"\x00" * 110_000
        status, answer = await upload(zora, session["token"], big, "image/png", "big.png")
        assert (status, answer["error"]["code"]) == (413, "file_too_large")
        status, _ = await upload(zora, session["token"], png(), "image/png", "ok.png")
        assert status == 201

        # Never above the deployment's limit: 50 MB set, 1 MB served.
        await set_shop_settings(zora, file_max_mb=50)
        assert (await zora.session())["widget"]["files"]["max_bytes"] == 1024 * 1024
        status, _ = await upload(zora, session["token"], PDF, "application/pdf", "invoice.pdf")
        assert status == 201
    finally:
        await set_shop_settings(zora)
