from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.events.app_home import on_app_home_opened
from bot.listeners.events.message import on_message
from bot.listeners.events.reaction import on_reaction_added


def register(app: AsyncApp) -> None:
    app.event("message")(on_message)
    app.event("app_home_opened")(on_app_home_opened)
    app.event("reaction_added")(on_reaction_added)
