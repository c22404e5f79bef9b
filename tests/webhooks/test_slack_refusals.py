"""A Shopify webhook's Slack post that Slack refuses for good (the channel is gone) is given up and logged,
not retried until it lands: the delivery is still processed."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.harness import CHANNEL
from tests.shopify.harness import ShopifyZora
from zora.app.dev import ensure_shop
from zora.shopify.samples import sample_payload


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


async def test_an_export_announcement_slack_refuses_for_good_is_given_up(
    sz: ShopifyZora, caplog: pytest.LogCaptureFixture
) -> None:
    shop = f"t-{uuid.uuid4().hex[:10]}.myshopify.com"
    await ensure_shop(sz.zora.services.pool, shop, "Fresh shop", CHANNEL)
    before = len(sz.zora.standin.posted)
    # Once only: a retry would post, so a post (or no warning) means the refusal was not taken as final.
    sz.zora.standin.fail("chat.postMessage", "channel_not_found")
    with caplog.at_level(logging.WARNING, logger="activities.shopify"):
        outcome = await sz.deliver("customers/data_request", sample_payload("customers/data_request", shop), shop=shop)
    assert outcome.status == "processed" and outcome.export_ready is not None
    assert "export announcement not posted: channel_not_found" in caplog.text
    assert len(sz.zora.standin.posted) == before
