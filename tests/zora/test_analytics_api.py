"""The analytics API (zora/analytics.py): the settings API's authentication, the shop taken from the
token only, CSV export, and the two pages."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import BAD_TOKENS, token

TODAY = datetime.now(UTC).date().isoformat()


async def get(sz: ShopifyZora, path: str, bearer: str | None) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    async with sz.zora.http.get(f"{sz.zora.base_url}{path}", headers=headers) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def a_conversation(sz: ShopifyZora, shop_id: int) -> None:
    shopper, conversation = uuid.uuid4(), uuid.uuid4()
    await sz.zora.fetch("INSERT INTO shoppers (id, shop_id) VALUES ($1, $2)", shopper, shop_id)
    await sz.zora.fetch(
        "INSERT INTO conversations (id, shop_id, shopper_id) VALUES ($1, $2, $3)", conversation, shop_id, shopper
    )


@pytest.mark.parametrize("case", ["missing", "not a jwt", "expired", "wrong signature", "shop not installed"])
async def test_no_figures_without_a_valid_session_token(sz: ShopifyZora, case: str) -> None:
    bearer = BAD_TOKENS[case](sz.shop)
    for path in ("/admin/api/analytics", "/admin/api/analytics/export?table=agents"):
        status, body, _ = await get(sz, path, bearer)
        assert status == 401, (case, path, body)
        assert "unauthorized" in body and "conversations" not in body


async def test_the_shop_is_the_tokens_whatever_the_query_says(sz: ShopifyZora) -> None:
    await a_conversation(sz, sz.shop_id)
    other = f"other-{uuid.uuid4().hex[:8]}.myshopify.com"
    other_id = await sz.install(other)
    await a_conversation(sz, other_id)
    await a_conversation(sz, other_id)
    path = f"/admin/api/analytics?from={TODAY}&to={TODAY}&shop={sz.shop}&shop_id={sz.shop_id}"
    status, body, _ = await get(sz, path, token(other))
    assert status == 200, body
    answer = json.loads(body)
    assert answer["shop"] == other and answer["totals"]["conversations"] == 2
    status, body, _ = await get(sz, path, token(sz.shop))
    assert json.loads(body)["totals"]["conversations"] >= 1 and json.loads(body)["shop"] == sz.shop


async def test_csv_export(sz: ShopifyZora) -> None:
    status, body, headers = await get(sz, f"/admin/api/analytics/export?table=days&from={TODAY}", token(sz.shop))
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == f'attachment; filename="zora-days-{TODAY}-{TODAY}.csv"'
    assert body.startswith("day,conversations,first_response_p50,first_response_p90,resolution_p50\r\n")
    for path in ("/admin/api/analytics/export?table=secrets", "/admin/api/analytics?from=2026-13-01"):
        status, body, _ = await get(sz, path, token(sz.shop))
        assert status == 400 and "bad_request" in body, (path, body)


async def test_the_pages(sz: ShopifyZora) -> None:
    status, body, headers = await get(sz, f"/admin/analytics?shop={sz.shop}", None)
    assert status == 200 and "cdn.shopify.com/shopifycloud/app-bridge.js" in body
    assert f"https://{sz.shop}" in headers["Content-Security-Policy"]
    assert 'href="/admin"' in body and "{{API_KEY}}" not in body
    status, body, headers = await get(sz, "/staff/analytics", None)
    assert status == 200 and "cdn.shopify.com" not in body and "/staff/staff.js" in body
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert 'href="/staff/settings"' in body
    # The settings pages link here, each to its own kind.
    assert 'href="/admin/analytics"' in (await get(sz, f"/admin?shop={sz.shop}", None))[1]
    assert 'href="/staff/analytics"' in (await get(sz, "/staff/settings", None))[1]


async def test_the_pages_share_one_session_token_script(sz: ShopifyZora) -> None:
    status, script, headers = await get(sz, "/admin/session.js", None)
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "window.zoraSession" in script and "zora-dev:id-token-request" in script
    for path in (f"/admin?shop={sz.shop}", f"/admin/analytics?shop={sz.shop}", "/staff/settings", "/staff/analytics"):
        body = (await get(sz, path, None))[1]
        # Before the page's own script, which asks it for tokens as it starts; staff.js may come after it.
        shared, own = body.index('<script src="/admin/session.js"></script>'), body.index("<script>")
        assert shared < own, path
        assert "zora-dev:id-token-request" not in body, f"{path} carries its own copy of session.js"
