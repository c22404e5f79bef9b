"""Inviting staff from the embedded settings page: a Shopify admin user (App Bridge session token) is an
owner of their shop, and the invitation goes to the shop named by the token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import smtp_options, wait_for_mail
from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import token
from zora.mail_catcher import MailCatcher


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {**smtp_options(catcher.smtp_port), "public_url": "http://zora.test"}


async def invite(sz: ShopifyZora, body: Any, bearer: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    url = f"{sz.zora.base_url}/admin/api/staff/invitations"
    async with sz.zora.http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_a_shopify_admin_user_invites_staff_of_their_shop(sz: ShopifyZora, catcher: MailCatcher) -> None:
    email = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    status, answer = await invite(sz, {"email": email, "role": "owner"}, token(sz.shop))
    assert status == 200, answer
    [mail] = await wait_for_mail(catcher, email, 1)
    assert sz.shop in mail.text and "http://zora.test/staff/invite#" in mail.text
    rows = await sz.fetch(
        "SELECT a.shop_id, a.role, a.password_hash, i.invited_by FROM staff_accounts a"
        " JOIN staff_invitations i ON i.account_id = a.id WHERE a.email = $1",
        email,
    )
    assert [(r["shop_id"], r["role"], r["password_hash"], r["invited_by"]) for r in rows] == [
        (sz.shop_id, "owner", None, "71")
    ]
    # Again: the address has an account already.
    assert (await invite(sz, {"email": email}, token(sz.shop)))[0] == 409


@pytest.mark.parametrize(
    "body", [{"email": "not an address"}, {"email": "a@example.com", "role": "admin"}, {"role": "agent"}]
)
async def test_bad_invitations_are_refused(sz: ShopifyZora, body: dict[str, Any]) -> None:
    status, answer = await invite(sz, body, token(sz.shop))
    assert status in (400, 422) and answer["error"]["message"], answer


async def test_no_invitation_without_a_valid_token(sz: ShopifyZora) -> None:
    for bearer in (None, "garbage", token(sz.shop, aud="someone-else")):
        status, _ = await invite(sz, {"email": f"x-{uuid.uuid4().hex[:6]}@example.com"}, bearer)
        assert status == 401
    assert await sz.fetch("SELECT 1 FROM staff_accounts WHERE email LIKE 'x-%'") == []
