"""Shops: their Slack channel and health, settings (with their history), installation and tokens."""

from __future__ import annotations

from dataclasses import dataclass
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
