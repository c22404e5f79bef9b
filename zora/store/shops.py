"""Shops: their Slack channel and health, settings (with their history), installation and tokens."""

from __future__ import annotations

from zora.db import Executor


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
