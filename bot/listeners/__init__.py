from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import actions, commands, events


def register_listeners(app: AsyncApp) -> None:
    events.register(app)
    actions.register(app)
    commands.register(app)
