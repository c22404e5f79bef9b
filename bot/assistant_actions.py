"""Block Kit of the assistant's drafted actions (Approve / Deny in the thread) and of a suggested reply
(the ephemeral draft with Send), and the words that tell the shopper an action's outcome (zora/shopper_texts.py, in the shopper's language).

Everything the shopper or the model wrote is escaped (DESIGN.md §5): a drafted "reason" cannot notify a
channel or disguise a link.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from zora.assistant import ToolRecord
from zora.assistant_actions import ShippingAddress
from zora.shopper_texts import Words
from zora.slack_text import escape
from zora.store.actions import ActionRow

ACTION_APPROVE = "zora_action_approve"
ACTION_DENY = "zora_action_deny"
ACTION_SEND_SUGGESTION = "zora_send_suggestion"

_WHAT = {
    "cancel_order": "cancel order {order}",
    "refund_request": "request a refund for order {order}",
    "address_change": "change the shipping address of order {order}",
}


def what(action: ActionRow) -> str:
    return _WHAT[action.kind].format(order=action.order_name)


def _address(action: ActionRow) -> str | None:
    raw = action.request.get("address")
    return ShippingAddress.model_validate(raw).one_line() if raw else None


def _request_lines(action: ActionRow) -> list[str]:
    lines = []
    if action.request.get("details"):
        lines.append(f"*Reason given:* {escape(str(action.request['details']), 1000)}")
    address = _address(action)
    if address:
        lines.append(f"*New address:* {escape(address, 1000)}")
    return lines


def draft_blocks(action: ActionRow, timeout_minutes: float) -> tuple[str, list[dict[str, Any]]]:
    """The draft as posted in the thread, waiting for a decision."""
    text = f":robot_face: The assistant drafted a request to {escape(what(action))}; an agent must approve it."
    body = "\n".join([text, *_request_lines(action)])
    buttons = [
        _button("Approve", ACTION_APPROVE, str(action.id), "primary"),
        _button("Deny", ACTION_DENY, str(action.id), "danger"),
    ]
    note = (
        f"Nothing happens in Shopify until an agent approves. No answer within {timeout_minutes:g} minutes denies it."
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "actions", "elements": buttons},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
    ]
    return text, blocks


def outcome_blocks(action: ActionRow, told: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The draft's message once decided: who decided, what Shopify did, what the shopper was told."""
    who = f"<@{action.decided_by}>" if action.decided_by else "nobody"
    heading = {
        "done": f":white_check_mark: Approved by {who}: done in Shopify.",
        "failed": f":warning: Approved by {who}, but Shopify refused: {escape(action.outcome or 'unknown error', 500)}",
        "denied": f":no_entry_sign: Denied by {who}.",
        "expired": ":hourglass: Denied: nobody answered in time.",
    }.get(action.status, escape(action.status))
    text = f"Request to {escape(what(action))}: {heading}"
    lines = [text, *_request_lines(action)]
    if told:
        lines.append(f"*Told the shopper:* {escape(told, 1500)}")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]


def shopper_text(action: ActionRow, w: Words) -> str:
    """What the assistant tells the shopper, in their words `w` (plain text: the widget does not parse
    Slack markup, and the missed-replies email escapes it)."""
    if action.status == "done":
        return w(f"action_done_{action.kind}", order=action.order_name, address=_address(action) or "")
    request = w(f"action_{action.kind}", order=action.order_name)
    key = {"failed": "action_failed", "expired": "action_expired"}.get(action.status, "action_denied")
    return w(key, request=request)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


# ------------------------------------------------------------------------------------------- §7

_ORDER_NAME = re.compile(r"^#\d{1,12}$")


def used_data(tools: list[ToolRecord]) -> list[str]:
    """The orders and products the tools returned, as short labels: objects with an order `name` like
    #1001 and objects with a product `title`, wherever they sit in a tool's JSON answer; otherwise the
    tool's name (the agent still sees what was consulted)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            name, title = value.get("name"), value.get("title")
            if isinstance(name, str) and _ORDER_NAME.match(name):
                found.append(f"order {name}")
            elif isinstance(title, str) and title.strip():
                found.append(f"product {title.strip()}")
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for record in tools:
        if record.refused:
            continue
        before = len(found)
        with contextlib.suppress(json.JSONDecodeError):
            walk(json.loads(record.content))
        if len(found) == before:
            found.append(record.name)
    return list(dict.fromkeys(found))


def suggestion_blocks(suggestion_id: str, text: str, used: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral draft: the text (escaped), what it used, and Send."""
    consulted = ", ".join(escape(u, 200) for u in used) if used else "no shop data"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Suggested reply*\n{escape(text, 2800)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Used: {consulted}"[:2900]}]},
        {"type": "actions", "elements": [_button("Send", ACTION_SEND_SUGGESTION, suggestion_id, "primary")]},
    ]
    return f"Suggested reply: {escape(text, 2800)}", blocks
