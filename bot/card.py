"""The conversation's card: the root post of its Slack thread, edited in place as things change.

Renders what Zora knows and nothing it does not: the Shopify customer summary appears once the
shop's data has the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from bot.assistant_posts import CARD_LINE, take_over_button
from bot.customer_analytics import analytics_blocks, analytics_fields
from zora.db import Pool
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackGateway
from zora.slack_text import CONTEXT_TEXT_MAX, escape
from zora.store import conversations as sconversations
from zora.store import threads as sthreads

ACTION_CLAIM = "zora_claim"
ACTION_RELEASE = "zora_release"
ACTION_RESOLVE = "zora_resolve"
ACTION_REOPEN = "zora_reopen"
ACTIONS = (ACTION_CLAIM, ACTION_RELEASE, ACTION_RESOLVE, ACTION_REOPEN)
# Agent assist (issue 12 §7): its own listener (bot/listeners/actions/assistant_actions.py).
ACTION_SUGGEST_REPLY = "zora_suggest_reply"

_STATUS_LABEL = {
    "open": ":large_green_circle: Open, waiting for an agent",
    "assigned": ":large_blue_circle: Assigned",
    "resolved": ":white_check_mark: Resolved",
    "closed": ":black_circle: Closed",
}


@dataclass
class CardData:
    conversation_id: UUID
    shop: str
    status: str
    assignee: str | None
    settings: ShopSettings
    shopper_name: str | None = None
    shopper_email: str | None = None
    verified: bool = False
    page: str | None = None
    locale: str | None = None
    # Whatever the shop's synced Shopify data has for this customer (orders_count, total_spent, tags...).
    customer: dict[str, Any] = field(default_factory=dict)
    # The assistant's hold on the conversation ("answering", "drafting"), shown with Take over.
    assistant: str | None = None


async def load_card(pool: Pool, conversation_id: UUID, directory: CustomerDirectory | None = None) -> CardData | None:
    async with pool.acquire() as conn:
        row = await sconversations.card_view(conn, conversation_id)
    if row is None:
        return None
    customer = dict(row.customer or {})
    if directory is not None and row.customer_id is not None:
        profile = await directory.profile_for_conversation(row.shop_id, row.id)
        if profile is not None:
            customer.update(
                orders_count=profile.analytics.valid_order_count,
                total_spent=profile.analytics.total_spent,
                currency=profile.analytics.currency,
                tags=profile.customer.tags,
                value_score=profile.scores.value,
                loyalty_score=profile.scores.loyalty,
                engagement_score=profile.scores.engagement,
            )
            customer.update(analytics_fields(profile.analytics))
    return CardData(
        conversation_id=row.id,
        shop=row.domain,
        status=row.status,
        assignee=row.assignee,
        settings=parse_settings(row.settings),
        shopper_name=row.shopper_name or customer.get("name"),
        shopper_email=row.shopper_email or customer.get("email"),
        verified=row.customer_id is not None,
        customer=customer,
        page=row.storefront_page,
        locale=row.locale,
        assistant=row.assistant,
    )


# Room for the shopper's own words on the card (escaped length): the card's fields stay within
# Slack's limits however long a name, address, page or tag list is.
_NAME_MAX = 300
_EMAIL_MAX = 400
_PAGE_MAX = 1200
_LOCALE_MAX = 100


def _who(card: CardData) -> str:
    """The shopper as the card names them, escaped: every part is the shopper's (or Shopify's)."""
    name = escape(card.shopper_name, _NAME_MAX) if card.shopper_name else None
    email = escape(card.shopper_email, _EMAIL_MAX) if card.shopper_email else None
    if name and email:
        return f"{name} &lt;{email}&gt;"
    return name or email or "a shopper"


def _customer_line(customer: dict[str, Any]) -> str | None:
    """The Shopify summary, escaped (tags are whatever the shop and the customer typed)."""
    parts = []
    if customer.get("orders_count") is not None:
        parts.append(f"{escape(customer['orders_count'], 40)} orders")
    if customer.get("total_spent") is not None:
        currency = customer.get("currency") or ""
        parts.append(escape(f"{customer['total_spent']} {currency} spent".replace("  ", " "), 120))
    for key, label in (("value_score", "value"), ("loyalty_score", "loyalty"), ("engagement_score", "engagement")):
        if customer.get(key) is not None:
            parts.append(f"{label} {escape(customer[key], 40)}/100")
    tags = customer.get("tags")
    if tags:
        # Last, and cut to what is left of the context element's room.
        used = len(" · ".join(parts)) + 40
        listed = ", ".join(str(t) for t in tags) if isinstance(tags, list) else str(tags)
        parts.append("tags: " + escape(listed, max(100, CONTEXT_TEXT_MAX - used)))
    return " · ".join(parts) or None


def _button(text: str, action_id: str, card: CardData, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": str(card.conversation_id),
    }
    if style:
        button["style"] = style
    return button


def render(card: CardData) -> tuple[str, list[dict[str, Any]]]:
    """(plain-text fallback, Block Kit blocks)."""
    who = _who(card)
    status = _STATUS_LABEL.get(card.status, escape(card.status))
    assignee = f"<@{card.assignee}>" if card.assignee else "nobody yet"
    identity = ":lock: verified Shopify customer" if card.verified else "not verified (anonymous visitor)"
    fields = [
        {"type": "mrkdwn", "text": f"*Shopper*\n{who}\n{identity}"},
        {"type": "mrkdwn", "text": f"*Status*\n{status}"},
        {"type": "mrkdwn", "text": f"*Assignee*\n{assignee}"},
    ]
    where = " · ".join(
        x
        for x in (
            escape(card.page, _PAGE_MAX) if card.page else None,
            escape(card.locale, _LOCALE_MAX) if card.locale else None,
        )
        if x
    )
    if where:
        fields.append({"type": "mrkdwn", "text": f"*Storefront*\n{where}"})
    shop = escape(card.shop)
    blocks: list[dict[str, Any]] = [
        # The shopper's name stays outside Zora's *bold*: a `*` in it cannot reach Zora's markup.
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f":speech_balloon: *Conversation* with {who} on {shop}"},
        },
        {"type": "section", "fields": fields},
    ]
    customer = _customer_line(card.customer)
    if customer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f":shopping_bags: {customer}"}]})
    blocks.extend(analytics_blocks(card.customer))
    buttons: list[dict[str, Any]] = []
    assistant = CARD_LINE.get(card.assistant or "") if card.status == "open" else None
    if assistant:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": assistant}]})
        buttons.append(take_over_button(str(card.conversation_id)))
    if card.status in ("open", "assigned"):
        if card.status == "open":
            buttons.append(_button("Claim", ACTION_CLAIM, card, "primary"))
        else:
            buttons.append(_button("Release", ACTION_RELEASE, card))
        buttons.append(_button("Resolve", ACTION_RESOLVE, card))
    else:
        buttons.append(_button("Reopen", ACTION_REOPEN, card))
    buttons.extend(_assist_buttons(card))
    blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": how_to_reply(card.settings)}]})
    text = f"Conversation with {who} on {shop}: {escape(card.status)}, assignee {assignee}"
    return text, blocks


def _assist_buttons(card: CardData) -> list[dict[str, Any]]:
    """Agent assist: a draft reply from the assistant, for shops that turned the assistant on."""
    if card.status not in ("open", "assigned") or not card.settings.assistant.enabled or card.settings.alerts_only:
        return []
    return [_button("Suggest reply", ACTION_SUGGEST_REPLY, card)]


def how_to_reply(settings: ShopSettings) -> str:
    if settings.alerts_only:
        return "Alerts only: nothing written here reaches the shopper."
    return (
        f"Reply in this thread to answer the shopper. Start a message with `{escape(settings.note_prefix)}`"
        " for an internal note the shopper never sees."
    )


async def redraw_card(
    pool: Pool, slack: SlackGateway, conversation_id: UUID, directory: CustomerDirectory | None = None
) -> None:
    """Edit the thread's root post to show the conversation as it is now (nothing before it exists)."""
    thread = await sthreads.of_conversation(pool, conversation_id)
    if thread is None:
        return  # no thread yet: the card is posted with the first message (and its customer data)
    card = await load_card(pool, conversation_id, directory)
    if card is None:
        return
    text, blocks = render(card)
    await slack.chat_update(channel=thread.channel, ts=thread.thread_ts, text=text, blocks=blocks)
