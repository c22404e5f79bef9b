from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.zora import on_zora


def register(app: AsyncApp) -> None:
    app.command("/zora")(on_zora)
