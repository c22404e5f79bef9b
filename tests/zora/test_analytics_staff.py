"""Zora's own staff sign-in reaches the analytics: an agent reads their own shop's figures, never another's."""

from __future__ import annotations

from tests.harness import Zora
from tests.zora.test_staff import account, api, sign_in
from tests.zora.test_staff import zora_options as zora_options  # the same mail and limits
from zora.mail_catcher import MailCatcher


async def test_an_agent_reads_the_analytics_of_their_shop_only(zora: Zora, catcher: MailCatcher) -> None:
    email = await account(zora, role="agent")
    tokens = await sign_in(zora, catcher, email)
    status, answer = await api(
        zora, "GET", "/admin/api/analytics?shop=other.myshopify.com", bearer=tokens["access_token"]
    )
    assert status == 200, answer
    assert answer["shop"] == zora.shop and "totals" in answer
    status, answer = await api(zora, "GET", "/admin/api/analytics", bearer=tokens["access_token"] + "x")
    assert status == 401
