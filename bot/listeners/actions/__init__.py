from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.assistant_actions import ACTION_APPROVE, ACTION_DENY, ACTION_SEND_SUGGESTION
from bot.assistant_posts import ACTION_DRAFT_DISCARD, ACTION_DRAFT_SEND, ACTION_TAKE_OVER
from bot.card import ACTION_SUGGEST_REPLY, ACTIONS
from bot.customers import ACTION_EDIT_CUSTOMER, VIEW_EDIT_CUSTOMER
from bot.listeners.actions.assistant_actions import on_decide, on_send, on_suggest
from bot.listeners.actions.assistant_drafts import on_draft
from bot.listeners.actions.customer import on_edit_customer, on_edit_customer_submit
from bot.listeners.actions.lifecycle import on_lifecycle


def register(app: AsyncApp) -> None:
    for action_id in (*ACTIONS, ACTION_TAKE_OVER):
        app.action(action_id)(on_lifecycle)
    app.action(ACTION_DRAFT_SEND)(on_draft)
    app.action(ACTION_DRAFT_DISCARD)(on_draft)
    app.action(ACTION_EDIT_CUSTOMER)(on_edit_customer)
    app.view(VIEW_EDIT_CUSTOMER)(on_edit_customer_submit)
    # The assistant's (issue 12 §6, §7).
    app.action(ACTION_APPROVE)(on_decide)
    app.action(ACTION_DENY)(on_decide)
    app.action(ACTION_SUGGEST_REPLY)(on_suggest)
    app.action(ACTION_SEND_SUGGESTION)(on_send)
