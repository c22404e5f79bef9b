"""Shops: their Slack channel and health, settings (with their history), installation and tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zora.db import Executor, Row


async def slack_channel(conn: Executor, shop_id: int) -> str | None:
    channel: str | None = await conn.fetchval("SELECT slack_channel_id FROM shops WHERE id = $1", shop_id)
    return channel


async def clear_slack_error(conn: Executor, shop_id: int) -> None:
    await conn.execute(
        "UPDATE shops SET slack_error = NULL, slack_error_at = NULL WHERE id = $1 AND slack_error IS NOT NULL",
        shop_id,
    )


async def set_slack_error(conn: Executor, shop_id: int, error: str) -> None:
    await conn.execute("UPDATE shops SET slack_error = $2, slack_error_at = now() WHERE id = $1", shop_id, error)


async def settings(conn: Executor, shop_id: int) -> dict[str, Any] | None:
    """The shop's settings as stored (zora.shop_settings parses them)."""
    found: dict[str, Any] | None = await conn.fetchval("SELECT settings FROM shops WHERE id = $1", shop_id)
    return found


async def assign_state(conn: Executor, shop_id: int) -> Row:
    """(settings, assign_cursor): what round robin starts from."""
    row = await conn.fetchrow("SELECT settings, assign_cursor FROM shops WHERE id = $1", shop_id)
    if row is None:
        raise LookupError(f"shop {shop_id} is not stored")
    return row


async def set_assign_cursor(conn: Executor, shop_id: int, cursor: int) -> None:
    await conn.execute("UPDATE shops SET assign_cursor = $2 WHERE id = $1", shop_id, cursor)


async def with_slack_error(conn: Executor) -> list[tuple[int, str | None]]:
    """(shop, Slack channel) of every shop whose Slack failed (a sweep over all shops)."""
    rows = await conn.fetch("SELECT id, slack_channel_id FROM shops WHERE slack_error IS NOT NULL")
    return [(r["id"], r["slack_channel_id"]) for r in rows]


@dataclass(frozen=True)
class WorkspaceShop:
    """A shop a Slack workspace serves, with what says who its agents are."""

    id: int
    domain: str
    slack_channel_id: str | None
    settings: dict[str, Any] | None


_SHOP_COLUMNS = "id, domain, slack_channel_id, settings"
# Shops this workspace serves (bot/access.py's docstring says which).
_IN_WORKSPACE = (
    "(slack_team_id IS NULL OR slack_team_id = $1) AND (slack_channel_id IS NOT NULL OR settings ? 'agents_usergroup')"
)


def _workspace_shop(row: Row) -> WorkspaceShop:
    return WorkspaceShop(
        id=row["id"], domain=row["domain"], slack_channel_id=row["slack_channel_id"], settings=row["settings"]
    )


async def in_workspace(conn: Executor, team_id: str) -> list[WorkspaceShop]:
    rows = await conn.fetch(f"SELECT {_SHOP_COLUMNS} FROM shops WHERE {_IN_WORKSPACE} ORDER BY domain", team_id)
    return [_workspace_shop(r) for r in rows]


async def in_workspace_by_id(conn: Executor, team_id: str, shop_id: int) -> WorkspaceShop | None:
    row = await conn.fetchrow(f"SELECT {_SHOP_COLUMNS} FROM shops WHERE {_IN_WORKSPACE} AND id = $2", team_id, shop_id)
    return None if row is None else _workspace_shop(row)


async def in_workspace_by_channel(conn: Executor, team_id: str, channel: str) -> list[WorkspaceShop]:
    rows = await conn.fetch(
        f"SELECT {_SHOP_COLUMNS} FROM shops WHERE {_IN_WORKSPACE} AND slack_channel_id = $2 ORDER BY domain",
        team_id,
        channel,
    )
    return [_workspace_shop(r) for r in rows]


async def in_workspace_by_domain(conn: Executor, team_id: str, domain: str) -> WorkspaceShop | None:
    row = await conn.fetchrow(
        f"SELECT {_SHOP_COLUMNS} FROM shops WHERE {_IN_WORKSPACE} AND domain = $2", team_id, domain
    )
    return None if row is None else _workspace_shop(row)


async def ensure_dev_shop(conn: Executor, domain: str, name: str, channel: str | None) -> int:
    """The development shop (zora dev): created, or given the channel when one is set."""
    shop_id: int = await conn.fetchval(
        "INSERT INTO shops (domain, name, slack_channel_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (domain) DO UPDATE SET slack_channel_id = COALESCE(EXCLUDED.slack_channel_id,"
        " shops.slack_channel_id) RETURNING id",
        domain,
        name,
        channel,
    )
    return shop_id


@dataclass(frozen=True)
class ShopHealth:
    domain: str
    slack_channel_id: str | None
    slack_error: str | None
    slack_error_at: datetime | None
    # Shopper messages not in Slack yet, conversations open or assigned.
    waiting: int
    open: int
    # The workspace the shop added Zora to (Add to Slack); None: the SLACK_BOT_TOKEN one, if any.
    slack_team_id: str | None = None


async def health(conn: Executor) -> list[ShopHealth]:
    """Every shop's Slack state and backlog (`zora doctor`)."""
    rows = await conn.fetch(
        "SELECT s.domain, s.slack_channel_id, s.slack_error, s.slack_error_at, s.slack_team_id,"
        " (SELECT count(*) FROM messages m WHERE m.shop_id = s.id AND m.direction = 'shopper'"
        "   AND m.status <> 'delivered') AS waiting,"
        " (SELECT count(*) FROM conversations c WHERE c.shop_id = s.id AND c.status IN ('open', 'assigned'))"
        "   AS open"
        " FROM shops s ORDER BY s.domain"
    )
    return [
        ShopHealth(
            domain=r["domain"],
            slack_channel_id=r["slack_channel_id"],
            slack_error=r["slack_error"],
            slack_error_at=r["slack_error_at"],
            waiting=r["waiting"],
            open=r["open"],
            slack_team_id=r["slack_team_id"],
        )
        for r in rows
    ]


async def id_of(conn: Executor, domain: str) -> int | None:
    shop_id: int | None = await conn.fetchval("SELECT id FROM shops WHERE domain = $1", domain)
    return shop_id


async def uninstalled(conn: Executor, shop_id: int, at: datetime) -> None:
    """The app was removed: its token is dead (the data stays until shop/redact)."""
    await conn.execute("UPDATE shops SET access_token = NULL, uninstalled_at = $2 WHERE id = $1", shop_id, at)


async def set_scopes(conn: Executor, shop_id: int, scopes: list[str]) -> None:
    await conn.execute("UPDATE shops SET scopes = $2 WHERE id = $1", shop_id, scopes)


async def sealed_access_token(conn: Executor, shop_id: int) -> str | None:
    """The shop's Admin API token as stored (sealed); None when the app is not installed."""
    token: str | None = await conn.fetchval("SELECT access_token FROM shops WHERE id = $1", shop_id)
    return token


async def name(conn: Executor, shop_id: int) -> str | None:
    found: str | None = await conn.fetchval("SELECT name FROM shops WHERE id = $1", shop_id)
    return found


@dataclass(frozen=True)
class ShopByDomain:
    id: int
    settings: dict[str, Any] | None


async def by_domain(conn: Executor, domain: str) -> ShopByDomain | None:
    row = await conn.fetchrow("SELECT id, settings FROM shops WHERE domain = $1", domain)
    return None if row is None else ShopByDomain(id=row["id"], settings=row["settings"])


async def installed_id(conn: Executor, domain: str) -> int | None:
    """The shop's id while the app is installed on it."""
    shop_id: int | None = await conn.fetchval(
        "SELECT id FROM shops WHERE domain = $1 AND uninstalled_at IS NULL", domain
    )
    return shop_id


# -- settings and their history (the admin page) ----------------------------------------------------


@dataclass(frozen=True)
class VersionedSettings:
    # As stored: normally an object, but a hand-written value may be anything JSON.
    settings: object
    version: int


async def versioned_settings(conn: Executor, shop_id: int, *, lock: bool = False) -> VersionedSettings:
    """The settings and their version; `lock` holds the row until the transaction ends (a save)."""
    if lock:
        row = await conn.fetchrow("SELECT settings, settings_version FROM shops WHERE id = $1 FOR UPDATE", shop_id)
    else:
        row = await conn.fetchrow("SELECT settings, settings_version FROM shops WHERE id = $1", shop_id)
    if row is None:
        raise LookupError(f"shop {shop_id} is not stored")
    return VersionedSettings(settings=row["settings"], version=row["settings_version"])


async def save_settings(
    conn: Executor,
    shop_id: int,
    *,
    version: int,
    changed_by: str,
    old: dict[str, Any],
    new: dict[str, Any],
    restored_from: int | None,
) -> None:
    """Store `new` as the settings' `version`, and the change in their history (inside the
    transaction that locked them)."""
    await conn.execute(
        "INSERT INTO shop_settings_history (shop_id, version, changed_by, old_settings, new_settings,"
        " restored_from) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)",
        shop_id,
        version,
        changed_by,
        old,
        new,
        restored_from,
    )
    await conn.execute(
        "UPDATE shops SET settings = $2::jsonb, settings_version = $3 WHERE id = $1",
        shop_id,
        new,
        version,
    )


async def settings_before(conn: Executor, shop_id: int, version: int) -> object | None:
    """The settings as they were before change `version`; None when there is no such change."""
    old: object | None = await conn.fetchval(
        "SELECT old_settings FROM shop_settings_history WHERE shop_id = $1 AND version = $2",
        shop_id,
        version,
    )
    return old


@dataclass(frozen=True)
class SettingsChange:
    version: int
    changed_by: str
    changed_at: datetime
    old_settings: object
    new_settings: object
    restored_from: int | None


async def settings_history(conn: Executor, shop_id: int, limit: int) -> list[SettingsChange]:
    """The latest changes, newest first."""
    rows = await conn.fetch(
        "SELECT version, changed_by, changed_at, old_settings, new_settings, restored_from"
        " FROM shop_settings_history WHERE shop_id = $1 ORDER BY version DESC LIMIT $2",
        shop_id,
        limit,
    )
    return [
        SettingsChange(
            version=r["version"],
            changed_by=r["changed_by"],
            changed_at=r["changed_at"],
            old_settings=r["old_settings"],
            new_settings=r["new_settings"],
            restored_from=r["restored_from"],
        )
        for r in rows
    ]


# -- installation and the Admin API token ----------------------------------------------------------


async def install(
    conn: Executor,
    *,
    domain: str,
    name: str,
    shopify_shop_id: int | None,
    sealed_token: str,
    scopes: list[str],
    currency: str | None,
) -> int:
    """Record an installation (or a reinstall): the shop's id."""
    shop_id: int = await conn.fetchval(
        "INSERT INTO shops (domain, name, shopify_shop_id, access_token, scopes, currency, installed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (domain) DO UPDATE SET name = EXCLUDED.name,"
        " shopify_shop_id = EXCLUDED.shopify_shop_id, access_token = EXCLUDED.access_token,"
        " scopes = EXCLUDED.scopes, currency = EXCLUDED.currency, installed_at = now(), uninstalled_at = NULL"
        " RETURNING id",
        domain,
        name,
        shopify_shop_id,
        sealed_token,
        scopes,
        currency,
    )
    return shop_id


async def is_installed(conn: Executor, domain: str) -> bool:
    """Whether Zora holds an Admin API token for the shop."""
    return bool(await conn.fetchval("SELECT access_token IS NOT NULL FROM shops WHERE domain = $1", domain))


async def installed_domains(conn: Executor, only: str | None = None) -> list[str]:
    """Every shop Zora holds a token for (or just `only`, when it is one)."""
    rows = await conn.fetch(
        "SELECT domain FROM shops WHERE access_token IS NOT NULL AND ($1::text IS NULL OR domain = $1) ORDER BY domain",
        only,
    )
    return [r["domain"] for r in rows]


@dataclass(frozen=True)
class Credentials:
    shop_id: int
    # As stored: sealed (zora.security.seal), or in the clear from an older version.
    access_token: str | None


async def credentials(conn: Executor, domain: str) -> Credentials | None:
    row = await conn.fetchrow("SELECT id, access_token FROM shops WHERE domain = $1", domain)
    return None if row is None else Credentials(shop_id=row["id"], access_token=row["access_token"])


async def reseal_access_token(conn: Executor, shop_id: int, stored: str, sealed: str) -> None:
    """Replace the token as stored by the same token sealed with the current key (unless it changed)."""
    await conn.execute(
        "UPDATE shops SET access_token = $3 WHERE id = $1 AND access_token = $2", shop_id, stored, sealed
    )


@dataclass(frozen=True)
class SyncStart:
    shop_id: int
    installed: bool
    # The database's clock: where this run's watermarks start.
    now: datetime
    # Resource -> the newest Shopify updated_at synced so far.
    watermarks: dict[str, datetime]


async def sync_start(conn: Executor, domain: str) -> SyncStart | None:
    """What a reconcile run starts from; None for a shop Zora does not know."""
    row = await conn.fetchrow("SELECT id, access_token, now() AS now FROM shops WHERE domain = $1", domain)
    if row is None:
        return None
    marks = {
        r["resource"]: r["watermark"]
        for r in await conn.fetch("SELECT resource, watermark FROM shopify_sync_state WHERE shop_id = $1", row["id"])
    }
    return SyncStart(shop_id=row["id"], installed=row["access_token"] is not None, now=row["now"], watermarks=marks)


async def save_watermark(conn: Executor, domain: str, resource: str, watermark: datetime, count: int) -> None:
    """Move the resource's watermark forward (never back) after a run paged `count` records."""
    await conn.execute(
        "INSERT INTO shopify_sync_state (shop_id, resource, watermark, last_run_at, last_count)"
        " SELECT id, $2, $3, now(), $4 FROM shops WHERE domain = $1"
        " ON CONFLICT (shop_id, resource) DO UPDATE SET watermark = greatest(shopify_sync_state.watermark,"
        " EXCLUDED.watermark), last_run_at = now(), last_count = EXCLUDED.last_count",
        domain,
        resource,
        watermark,
        count,
    )


async def default_assistant(conn: Executor, shop_id: int, assistant: dict[str, Any]) -> bool:
    """Sets the shop's assistant settings when it has none yet (zora dev's demo shop): a merchant's own
    choice, even to turn it off, is kept. True when set."""
    row = await conn.fetchval(
        "UPDATE shops SET settings = jsonb_set(coalesce(settings, '{}'::jsonb), '{assistant}', $2::jsonb)"
        " WHERE id = $1 AND NOT coalesce(settings, '{}'::jsonb) ? 'assistant' RETURNING id",
        shop_id,
        assistant,
    )
    return row is not None
