"""Issue 11 §3: a shop's own, stricter limits for its shoppers, counted beside the deployment's (which
the harness lifts here, so only the shop's can refuse), picked up by the running web process within its
few seconds of cached settings (zora/shop_limits.py)."""

from __future__ import annotations

import asyncio
import uuid

from tests.harness import Zora
from tests.helpers import set_shop_settings
from tests.widget.test_files import png, upload


async def _message(zora: Zora, token: str) -> dict[str, object]:
    shopper = await zora.shopper(token)
    try:
        return await shopper.call("message", {"client_id": uuid.uuid4().hex, "body": "hello"})
    finally:
        await shopper.close()


async def test_the_shops_stricter_limits_refuse_and_a_change_needs_no_restart(zora: Zora) -> None:
    await set_shop_settings(
        zora, rate_limits={"messages_per_shopper_per_minute": 2, "uploads_per_conversation_per_10_minutes": 1}
    )
    try:
        # The process may hold the shop's settings from an earlier test for a few seconds: let go of them.
        zora.widget().shop_settings._cached.clear()
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        answers = [await shopper.call("message", {"client_id": uuid.uuid4().hex, "body": "hi"}) for _ in range(3)]
        assert [a["ok"] for a in answers] == [True, True, False]
        assert answers[2]["error"]["code"] == "rate_limited"
        # Another shopper of the shop has a count of their own.
        assert (await _message(zora, (await zora.session())["token"]))["ok"] is True

        status, _ = await upload(zora, session["token"], png(), "image/png", "one.png")
        assert status == 201
        status, answer = await upload(zora, session["token"], png(), "image/png", "two.png")
        assert (status, answer["error"]["code"]) == (429, "rate_limited")

        # Lifted on the settings page: the same shopper writes again once the cache has let go of it.
        await set_shop_settings(zora)
        for _ in range(60):  # the cache lets go with time: there is no event to wait on
            if (await shopper.call("message", {"client_id": uuid.uuid4().hex, "body": "again"}))["ok"]:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the lifted limit still refuses after 30 s")
        await shopper.close()
    finally:
        await set_shop_settings(zora)
