"""A shop's Slack workspace is read once per few seconds, not on every post (issue 13 §1), and an install
or an uninstall in this process is seen at once."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.harness import Zora
from zora.app.dev import ensure_shop
from zora.security import seal
from zora.slack_api import SlackWorkspaces, workspaces_changed
from zora.store import slack as sslack
from zora.store.slack import StoredInstallation


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _install(zora: Zora, team: str, token: str) -> None:
    stored = StoredInstallation(
        enterprise_id=None,
        team_id=team,
        is_enterprise_install=False,
        enterprise_name=None,
        team_name=team,
        app_id="A0CACHE",
        bot_id="B0CACHE",
        bot_user_id="U0CACHEBOT",
        sealed_bot_token=seal(zora.settings.secret(), token),
        bot_scopes=["chat:write"],
        installed_by=None,
        installed_at=datetime.now(UTC),
        revoked_at=None,
    )
    async with zora.services.pool.acquire() as conn:
        await sslack.save_installation(conn, stored)


async def test_a_shops_workspace_is_kept_for_a_few_seconds(zora: Zora) -> None:
    shop_id = await ensure_shop(zora.services.pool, "cache-one.myshopify.com", "Cache one", "C0CACHE01")
    await _install(zora, "T0CACHE01", "xoxb-cache-first")
    await zora.fetch("UPDATE shops SET slack_team_id = 'T0CACHE01' WHERE id = $1", shop_id)
    clock = Clock()
    svc = zora.services
    workspaces = SlackWorkspaces(svc.slack, svc.pool, svc.settings, cache_seconds=5.0, clock=clock)

    first = await workspaces.for_shop(shop_id)
    assert first.installation.token() == "xoxb-cache-first"
    # Changed behind this process's back (another process, a person in psql): not seen while fresh.
    await _install(zora, "T0CACHE01", "xoxb-cache-second")
    clock.now += 4.9
    assert await workspaces.for_shop(shop_id) is first
    clock.now += 0.2
    assert (await workspaces.for_shop(shop_id)).installation.token() == "xoxb-cache-second"


async def test_an_install_or_removal_in_this_process_is_seen_at_once(zora: Zora) -> None:
    shop_id = await ensure_shop(zora.services.pool, "cache-two.myshopify.com", "Cache two", "C0CACHE02")
    await _install(zora, "T0CACHE02", "xoxb-cache-before")
    await zora.fetch("UPDATE shops SET slack_team_id = 'T0CACHE02' WHERE id = $1", shop_id)
    svc = zora.services
    workspaces = SlackWorkspaces(svc.slack, svc.pool, svc.settings, clock=Clock())
    assert (await workspaces.for_shop(shop_id)).installation.token() == "xoxb-cache-before"

    async with svc.pool.acquire() as conn:
        await sslack.revoke(conn, None, "T0CACHE02")
    workspaces_changed()  # what the installation store calls after a removal (zora/slack_oauth.py)
    assert (await workspaces.for_shop(shop_id)).installation.token() is None

    await _install(zora, "T0CACHE02", "xoxb-cache-after")
    workspaces_changed()
    assert (await workspaces.for_shop(shop_id)).installation.token() == "xoxb-cache-after"
