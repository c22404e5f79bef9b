"""Slack installations (one per workspace, bot token sealed), the OAuth states that say which shop
started an "Add to Slack", and which workspace each shop is connected to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zora.db import Executor


@dataclass(frozen=True)
class StoredInstallation:
    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool
    enterprise_name: str | None
    team_name: str | None
    app_id: str | None
    bot_id: str | None
    bot_user_id: str | None
    # As stored: sealed (zora.security.seal).
    sealed_bot_token: str
    bot_scopes: list[str]
    installed_by: str | None
    installed_at: datetime
    revoked_at: datetime | None


_COLUMNS = (
    "enterprise_id, team_id, is_enterprise_install, enterprise_name, team_name, app_id, bot_id, bot_user_id,"
    " bot_token, bot_scopes, installed_by, installed_at, revoked_at"
)


def _key(value: str | None) -> str:
    return value or ""


async def save_installation(conn: Executor, installation: StoredInstallation) -> None:
    """Record an installation, or a reinstall of the same workspace (a fresh token, not revoked)."""
    await conn.execute(
        f"INSERT INTO slack_installations ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now(), NULL)"
        " ON CONFLICT (enterprise_id, team_id) DO UPDATE SET is_enterprise_install = EXCLUDED.is_enterprise_install,"
        " enterprise_name = EXCLUDED.enterprise_name, team_name = EXCLUDED.team_name, app_id = EXCLUDED.app_id,"
        " bot_id = EXCLUDED.bot_id, bot_user_id = EXCLUDED.bot_user_id, bot_token = EXCLUDED.bot_token,"
        " bot_scopes = EXCLUDED.bot_scopes, installed_by = EXCLUDED.installed_by, installed_at = now(),"
        " revoked_at = NULL",
        _key(installation.enterprise_id),
        _key(installation.team_id),
        installation.is_enterprise_install,
        installation.enterprise_name,
        installation.team_name,
        installation.app_id,
        installation.bot_id,
        installation.bot_user_id,
        installation.sealed_bot_token,
        installation.bot_scopes,
        installation.installed_by,
    )


async def find_installation(
    conn: Executor,
    enterprise_id: str | None,
    team_id: str | None,
    *,
    is_enterprise_install: bool = False,
    revoked_too: bool = False,
) -> StoredInstallation | None:
    """The live installation for a workspace (an org-wide one answers for every team of its org); with
    `revoked_too`, one the workspace removed as well (its revoked_at set)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM slack_installations WHERE (revoked_at IS NULL OR $3) AND enterprise_id = $1"
        " AND (team_id = $2 OR (is_enterprise_install AND team_id = '')) ORDER BY revoked_at IS NULL DESC, team_id = $2 DESC LIMIT 1",
        _key(enterprise_id),
        "" if is_enterprise_install else _key(team_id),
        revoked_too,
    )
    if row is None:
        return None
    return StoredInstallation(
        enterprise_id=row["enterprise_id"] or None,
        team_id=row["team_id"] or None,
        is_enterprise_install=row["is_enterprise_install"],
        enterprise_name=row["enterprise_name"],
        team_name=row["team_name"],
        app_id=row["app_id"],
        bot_id=row["bot_id"],
        bot_user_id=row["bot_user_id"],
        sealed_bot_token=row["bot_token"],
        bot_scopes=list(row["bot_scopes"]),
        installed_by=row["installed_by"],
        installed_at=row["installed_at"],
        revoked_at=row["revoked_at"],
    )


async def revoke(conn: Executor, enterprise_id: str | None, team_id: str | None) -> list[int]:
    """The workspace removed Zora (or revoked its token): the installation is dead until reinstalled.
    The shops it served, for their "Slack disconnected"."""
    await conn.execute(
        "UPDATE slack_installations SET revoked_at = now() WHERE enterprise_id = $1 AND team_id = $2"
        " AND revoked_at IS NULL",
        _key(enterprise_id),
        _key(team_id),
    )
    # The error the sweep heals once the workspace answers again (activities/conversation.py).
    rows = await conn.fetch(
        "UPDATE shops SET slack_error = 'token_revoked', slack_error_at = now() WHERE slack_team_id = $1 RETURNING id",
        _key(team_id),
    )
    return sorted(r["id"] for r in rows)


async def connect_shop(conn: Executor, shop_id: int, enterprise_id: str | None, team_id: str) -> None:
    """The shop's Slack is now this workspace. A different workspace than before loses the old channel
    (its id means nothing in the new one); the same workspace keeps it."""
    await conn.execute(
        "UPDATE shops SET slack_channel_id = CASE WHEN slack_team_id IS DISTINCT FROM $3 THEN NULL"
        " ELSE slack_channel_id END, slack_team_id = $3, slack_enterprise_id = $2 WHERE id = $1",
        shop_id,
        enterprise_id,
        team_id,
    )


@dataclass(frozen=True)
class ShopWorkspace:
    enterprise_id: str | None
    team_id: str | None
    channel: str | None
    error: str | None


async def shop_workspace(conn: Executor, shop_id: int) -> ShopWorkspace | None:
    """The shop's workspace (team None: the SLACK_BOT_TOKEN one), channel and last Slack error."""
    row = await conn.fetchrow(
        "SELECT slack_enterprise_id, slack_team_id, slack_channel_id, slack_error FROM shops WHERE id = $1", shop_id
    )
    if row is None:
        return None
    return ShopWorkspace(row["slack_enterprise_id"], row["slack_team_id"], row["slack_channel_id"], row["slack_error"])


# -- OAuth states -----------------------------------------------------------------------------------


async def issue_state(conn: Executor, state: str, shop_id: int, seconds: int) -> None:
    await conn.execute(
        "INSERT INTO slack_oauth_states (state, shop_id, expires_at)"
        " VALUES ($1, $2, now() + make_interval(secs => $3))",
        state,
        shop_id,
        float(seconds),
    )
    # Expired states are worth nothing: cleared on the way (a handful per install at most).
    await conn.execute("DELETE FROM slack_oauth_states WHERE expires_at < now() - interval '1 day'")


async def pending_state(conn: Executor, state: str) -> int | None:
    """The shop of a state not yet used and not expired (None otherwise)."""
    shop_id: int | None = await conn.fetchval(
        "SELECT shop_id FROM slack_oauth_states WHERE state = $1 AND consumed_at IS NULL AND expires_at > now()",
        state,
    )
    return shop_id


async def consume_state(conn: Executor, state: str) -> bool:
    """Use a state once: True the first time, before it expires."""
    used = await conn.fetchval(
        "UPDATE slack_oauth_states SET consumed_at = now() WHERE state = $1 AND consumed_at IS NULL"
        " AND expires_at > now() RETURNING true",
        state,
    )
    return bool(used)


async def consumed_state_shop(conn: Executor, state: str) -> int | None:
    """The shop of a state the callback just used."""
    shop_id: int | None = await conn.fetchval(
        "SELECT shop_id FROM slack_oauth_states WHERE state = $1 AND consumed_at IS NOT NULL", state
    )
    return shop_id


async def shop_domain(conn: Executor, shop_id: int) -> str | None:
    domain: str | None = await conn.fetchval("SELECT domain FROM shops WHERE id = $1", shop_id)
    return domain


async def shop_installed(conn: Executor, shop_id: int) -> bool:
    """Whether the shop still has Zora installed in Shopify (a state outlives nothing else)."""
    return bool(await conn.fetchval("SELECT uninstalled_at IS NULL FROM shops WHERE id = $1", shop_id))


async def set_channel(conn: Executor, shop_id: int, channel: str) -> None:
    """The merchant picked the shop's channel (the bot is in it). A Slack error stays until the minute
    sweep finds the channel working: that is what delivers the messages that waited."""
    await conn.execute("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", shop_id, channel)


@dataclass(frozen=True)
class ConnectedWorkspace:
    """A workspace Zora was added to (`zora doctor`), with the shops it serves."""

    enterprise_id: str | None
    team_id: str | None
    team_name: str | None
    revoked_at: datetime | None
    shops: list[str]


async def connected_workspaces(conn: Executor) -> list[ConnectedWorkspace]:
    rows = await conn.fetch(
        "SELECT i.enterprise_id, i.team_id, i.team_name, i.revoked_at,"
        " coalesce(array_agg(s.domain ORDER BY s.domain) FILTER (WHERE s.id IS NOT NULL), '{}') AS shops"
        " FROM slack_installations i LEFT JOIN shops s ON s.slack_team_id = i.team_id"
        " AND coalesce(s.slack_enterprise_id, '') = i.enterprise_id"
        " GROUP BY i.id ORDER BY i.team_name, i.team_id"
    )
    return [
        ConnectedWorkspace(
            enterprise_id=r["enterprise_id"] or None,
            team_id=r["team_id"] or None,
            team_name=r["team_name"],
            revoked_at=r["revoked_at"],
            shops=list(r["shops"]),
        )
        for r in rows
    ]
