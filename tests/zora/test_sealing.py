"""Shopify access tokens are stored sealed with a key derived from ZORA_SECRET_KEY."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from zora import db
from zora.security import SealError, is_sealed, seal, unseal
from zora.settings import Settings
from zora.shopify.sync import shop_credentials

KEY = secrets.token_urlsafe(32)
OLD = secrets.token_urlsafe(32)


def test_round_trip_and_nothing_readable_in_the_stored_form() -> None:
    stored = seal(KEY, "shpat_0123456789abcdef")
    assert is_sealed(stored) and "shpat_" not in stored
    assert unseal([KEY], stored) == "shpat_0123456789abcdef"
    # Fernet: a fresh nonce each time, so equal tokens do not look equal at rest.
    assert seal(KEY, "shpat_0123456789abcdef") != stored


def test_a_previous_key_still_opens_and_a_wrong_one_says_what_to_do() -> None:
    stored = seal(OLD, "shpat_old")
    assert unseal([KEY, OLD], stored) == "shpat_old"
    with pytest.raises(SealError, match="ZORA_PREVIOUS_SECRET_KEYS"):
        unseal([KEY], stored)
    with pytest.raises(SealError):
        unseal([KEY], stored[:-4] + "AAAA")  # tampered


def test_previous_keys_setting_is_a_comma_separated_list() -> None:
    settings = Settings(_env_file=None, zora_secret_key=KEY, zora_previous_secret_keys=f" {OLD} ,, ")  # type: ignore[call-arg]
    assert settings.sealing_keys() == [KEY, OLD]
    assert Settings(_env_file=None, zora_secret_key=KEY).sealing_keys() == [KEY]  # type: ignore[call-arg]


async def test_a_token_stored_in_the_clear_is_sealed_on_first_use(database_url: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url, zora_secret_key=KEY)  # type: ignore[call-arg]
    domain = f"seal-{uuid.uuid4().hex[:8]}.myshopify.com"
    pool: Any = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO shops (domain, name, access_token) VALUES ($1, 'Old install', 'shpat_plain')", domain
            )
        _, token = await shop_credentials(pool, settings, domain)
        assert token == "shpat_plain"
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT access_token FROM shops WHERE domain = $1", domain)
        assert is_sealed(stored) and unseal([KEY], stored) == "shpat_plain"
        # Read again: the sealed value opens to the same token.
        assert (await shop_credentials(pool, settings, domain))[1] == "shpat_plain"
    finally:
        await pool.close()


async def test_a_token_sealed_with_a_previous_key_is_sealed_again_with_the_current_one(database_url: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        zora_secret_key=KEY,
        zora_previous_secret_keys=OLD,
    )
    domain = f"rot-{uuid.uuid4().hex[:8]}.myshopify.com"
    pool: Any = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO shops (domain, name, access_token) VALUES ($1, 'Rotated', $2)",
                domain,
                seal(OLD, "shpat_r"),
            )
        assert (await shop_credentials(pool, settings, domain))[1] == "shpat_r"
        async with pool.acquire() as conn:
            stored = await conn.fetchval("SELECT access_token FROM shops WHERE domain = $1", domain)
        # The old key can now be dropped: the current one alone opens it.
        assert unseal([KEY], stored) == "shpat_r"
    finally:
        await pool.close()


async def test_a_token_no_key_opens_fails_the_sync_without_retries(infra: Any, database_url: str) -> None:
    from temporalio.client import Client
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.shopify import ShopifyActivities
    from zora.shopify.models import SyncPage
    from zora.slack_api import SlackGateway

    settings = Settings(_env_file=None, database_url=database_url, zora_secret_key=KEY)  # type: ignore[call-arg]
    domain = f"lost-{uuid.uuid4().hex[:8]}.myshopify.com"
    pool: Any = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO shops (domain, name, access_token) VALUES ($1, 'Lost key', $2)", domain, seal(OLD, "x")
            )
        temporal = await Client.connect(infra.temporal_address)
        # Slack is not reached on this path: a client that is never called.
        activities = ShopifyActivities(pool, temporal, SlackGateway.from_settings(settings), settings)
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(activities.sync_page, SyncPage(shop=domain, resource="customers"))
        assert caught.value.type == "SealError" and caught.value.non_retryable
        assert "ZORA_PREVIOUS_SECRET_KEYS" in str(caught.value)
    finally:
        await pool.close()
