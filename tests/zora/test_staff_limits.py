"""Sign-in limits (zora/staff_web.py) count per client address and per address and email: someone
guessing from elsewhere uses up their own allowance, never the account owner's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.harness import Zora
from tests.helpers import smtp_options
from tests.zora.test_staff import PASSWORD, account, code_for
from zora.mail_catcher import MailCatcher


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {
        **smtp_options(catcher.smtp_port),
        "trusted_proxies": ["127.0.0.1"],
        "rate_staff_sign_in_per_address_and_email": "3/10 minutes",
        "rate_staff_sign_in_per_address": "100/10 minutes",
    }


async def attempt(z: Zora, email: str, password: str, address: str) -> tuple[int, Any]:
    async with z.http.post(
        f"{z.base_url}/staff/api/sign-in",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_a_guesser_cannot_lock_the_owner_out(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora)
    for _ in range(3):
        assert (await attempt(zora, email, f"guess {uuid.uuid4()}", "203.0.113.7"))[0] == 401
    status, answer = await attempt(zora, email, PASSWORD, "203.0.113.7")
    assert status == 429 and answer["error"]["code"] == "rate_limited" and answer["retry_after"] >= 1
    # The owner, from elsewhere, still signs in.
    status, answer = await attempt(zora, email, PASSWORD, "198.51.100.20")
    assert status == 200, answer
    assert len(await code_for(catcher, email)) == 6
