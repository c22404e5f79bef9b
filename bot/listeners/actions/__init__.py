from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.card import ACTIONS
from bot.listeners.actions.lifecycle import on_lifecycle


def register(app: AsyncApp) -> None:
    for action_id in ACTIONS:
        app.action(action_id)(on_lifecycle)
