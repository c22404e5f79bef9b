"""What each Shopify webhook topic does, as one table (topic -> handler).

Handlers run inside ShopifyWebhookWorkflow's activity, in one transaction with the inbox row, never in
the HTTP request. Every handler works on the shop named by the delivery and on nothing else.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from zora.db import Conn
from zora.errors import ZoraError
from zora.shopify.models import ExportReady, OrderNotice, SlackErasure, WebhookOutcome
from zora.shopify.records import customer_from_rest, order_from_rest, product_from_rest
from zora.store import compliance
from zora.store import shopify as store
from zora.store import shops as sshops
from zora.store import slack as sslack

log = logging.getLogger(__name__)


class RejectedDelivery(ZoraError):
    """A signed delivery whose content cannot be applied (names another shop, no id...). Not retried."""


@dataclass
class Delivery:
    conn: Conn
    shop: str
    shop_id: int | None
    topic: str
    payload: dict[str, Any]
    now: datetime


Handler = Callable[[Delivery], Awaitable[WebhookOutcome]]
# A handler for topics about a shop Zora holds: it gets that shop's id.
ShopHandler = Callable[[Delivery, int], Awaitable[WebhookOutcome]]
# A Shopify record as parsed from a webhook body.
R = TypeVar("R")


def _installed(handler: ShopHandler) -> Handler:
    """A delivery for a shop Zora does not hold is recorded as ignored; otherwise `handler` runs."""

    @functools.wraps(handler)
    async def run(d: Delivery) -> WebhookOutcome:
        if d.shop_id is None:
            return _not_installed(d)
        return await handler(d, d.shop_id)

    return run


def _id(payload: dict[str, Any]) -> int:
    try:
        return int(payload["id"])
    except (KeyError, TypeError, ValueError):
        raise RejectedDelivery("payload has no numeric id") from None


def _not_installed(d: Delivery) -> WebhookOutcome:
    return WebhookOutcome(status="ignored", detail=f"no shop {d.shop} in Zora")


def _applied(written: bool) -> WebhookOutcome:
    return WebhookOutcome(status="processed" if written else "stale", detail=None if written else "newer data held")


# What agents are told about, in the thread of the customer's open conversation.
_ORDER_EVENTS = {
    "orders/create": "placed",
    "orders/paid": "paid",
    "orders/fulfilled": "fulfilled",
    "orders/cancelled": "cancelled",
}


def order_notice_text(topic: str, order: Mapping[str, Any]) -> str:
    """The thread's line about an order event, from the order as stored (shopify_orders)."""
    items = sum(int(li.get("quantity") or 0) for li in order["line_items"] or [])
    what = _ORDER_EVENTS.get(topic, "updated")
    total = f"{order['total_price']} {order['currency'] or ''}".rstrip()
    line = f"Order {order['name']} {what}: {items} item{'s' if items != 1 else ''}, {total}"
    if topic == "orders/fulfilled":
        numbers = [t for f in order["fulfillments"] or [] for t in f.get("tracking") or [] if t.get("number")]
        if numbers:
            t = numbers[0]
            line += f". Tracking: {t.get('company') or 'carrier'} {t['number']}"
    if topic == "orders/cancelled" and order["cancel_reason"]:
        line += f" (reason: {order['cancel_reason']})"
    return ":shopping_bags: " + line


@_installed
async def order_upsert(d: Delivery, shop_id: int) -> WebhookOutcome:
    order = order_from_rest(d.payload)
    written = await store.upsert_order(d.conn, shop_id, order)
    outcome = _applied(written)
    if d.topic in _ORDER_EVENTS and order.customer_id is not None:
        # A stale orders/paid still means the order was paid: agents hear about the event either way.
        outcome.notice = OrderNotice(
            shop_id=shop_id, shopify_customer_id=order.customer_id, shopify_order_id=order.shopify_id, topic=d.topic
        )
    return outcome


def _deleting(delete: Callable[[Conn, int, int], Awaitable[None]]) -> Handler:
    """A */delete topic: the record's row is marked deleted, so a late update cannot bring it back."""

    @_installed
    async def handler(d: Delivery, shop_id: int) -> WebhookOutcome:
        await delete(d.conn, shop_id, _id(d.payload))
        return WebhookOutcome(status="processed")

    return handler


def _upserting(parse: Callable[[dict[str, Any]], R], upsert: Callable[[Conn, int, R], Awaitable[bool]]) -> Handler:
    """A */create or */update topic: the record is written unless what Zora holds is newer."""

    @_installed
    async def handler(d: Delivery, shop_id: int) -> WebhookOutcome:
        return _applied(await upsert(d.conn, shop_id, parse(d.payload)))

    return handler


order_delete = _deleting(store.delete_order)
customer_upsert = _upserting(customer_from_rest, store.upsert_customer)
customer_delete = _deleting(store.delete_customer)
product_upsert = _upserting(product_from_rest, store.upsert_product)
product_delete = _deleting(store.delete_product)


@_installed
async def app_uninstalled(d: Delivery, shop_id: int) -> WebhookOutcome:
    _require_same_shop(d)
    # The token is dead already; data stays until shop/redact (48 h later) in case of a reinstall.
    await sshops.uninstalled(d.conn, shop_id, d.now)
    return WebhookOutcome(status="processed", remove_schedule=True)


@_installed
async def app_scopes_update(d: Delivery, shop_id: int) -> WebhookOutcome:
    current = d.payload.get("current")
    if not isinstance(current, list):
        raise RejectedDelivery("payload has no 'current' scope list")
    await sshops.set_scopes(d.conn, shop_id, [str(s) for s in current])
    return WebhookOutcome(status="processed", detail=",".join(str(s) for s in current))


# Topics that destroy or export a shop's data or access, and the payload field naming the shop they are
# about. The HMAC covers the body but not the headers: a leaked body of shop A replayed with shop B's domain
# in X-Shopify-Shop-Domain must never act on B, and a body that names no shop cannot prove which it is about.
DESTRUCTIVE_TOPICS: dict[str, str] = {
    "app/uninstalled": "myshopify_domain",
    "shop/redact": "shop_domain",
    "customers/redact": "shop_domain",
    "customers/data_request": "shop_domain",
}


def shop_mismatch(topic: str, shop: str, payload: Any) -> str | None:
    """Why a destructive delivery does not belong to `shop` (the header's), or None when it does."""
    field = DESTRUCTIVE_TOPICS.get(topic)
    if field is None:
        return None
    named = payload.get(field) if isinstance(payload, dict) else None
    if not isinstance(named, str) or not named:
        return f"{topic} payload has no {field}"
    if named.lower() != shop.lower():
        return f"{topic} payload is about {named}, delivery is for {shop}"
    return None


def _require_same_shop(d: Delivery) -> None:
    # The route refuses these already; a row stored before that check existed is checked here again.
    problem = shop_mismatch(d.topic, d.shop, d.payload)
    if problem is not None:
        raise RejectedDelivery(problem)


def _person(d: Delivery, orders_key: str) -> compliance.Person:
    customer = d.payload.get("customer") or {}
    cid = customer.get("id")
    return compliance.Person(
        customer_id=int(cid) if cid is not None else None,
        email=customer.get("email"),
        phone=customer.get("phone"),
        order_ids=[int(i) for i in d.payload.get(orders_key) or []],
    )


async def customers_data_request(d: Delivery) -> WebhookOutcome:
    _require_same_shop(d)
    if d.shop_id is None:
        return WebhookOutcome(status="processed", detail="Zora holds nothing for this shop")
    person = _person(d, "orders_requested")
    export = await compliance.export_customer(d.conn, d.shop_id, person, generated_at=d.now)
    request_id = (d.payload.get("data_request") or {}).get("id")
    export["request"] = {"data_request_id": request_id, "customer": d.payload.get("customer")}
    export_id = await compliance.store_data_request(
        d.conn, d.shop_id, int(request_id) if request_id is not None else None, person.customer_id, export
    )
    held = len(export["customers"]) + len(export["orders"]) + len(export["conversations"])
    return WebhookOutcome(
        status="processed",
        detail=f"export stored ({held} records)",
        export_ready=ExportReady(shop_id=d.shop_id, export_id=int(export_id), records=held),
    )


def _workspace_of(workspace: sslack.ShopWorkspace | None) -> dict[str, str | None]:
    """Where a redaction's Slack copies are erased: the shop's own workspace, if it added one."""
    if workspace is None:
        return {}
    return {"team_id": workspace.team_id, "enterprise_id": workspace.enterprise_id}


async def customers_redact(d: Delivery) -> WebhookOutcome:
    _require_same_shop(d)
    if d.shop_id is None:
        return WebhookOutcome(status="processed", detail="Zora holds nothing for this shop")
    person = _person(d, "orders_to_redact")
    batch = uuid.uuid4()
    conversations: list[Any] = []
    shoppers: list[Any] = []
    counts = await compliance.redact_customer(
        d.conn,
        d.shop_id,
        person,
        erasure_batch=batch,
        conversations_out=conversations,
        shoppers_out=shoppers,
    )
    workspace = await sslack.shop_workspace(d.conn, d.shop_id)
    erase = (
        SlackErasure(batch=batch, conversation_ids=conversations, **_workspace_of(workspace)) if conversations else None
    )
    return WebhookOutcome(
        status="processed",
        detail=", ".join(f"{k}={v}" for k, v in counts.items()),
        erase_in_slack=erase,
        revoked_shoppers=shoppers,
    )


async def shop_redact(d: Delivery) -> WebhookOutcome:
    _require_same_shop(d)
    if d.shop_id is not None:
        token = await sshops.sealed_access_token(d.conn, d.shop_id)
        if token is not None:
            # Reinstalled since the uninstall that scheduled this redaction: the shop is a customer again.
            return WebhookOutcome(status="ignored", detail="shop is installed again")
    batch = uuid.uuid4()
    # Read before the shop's row goes: where its Slack copies are.
    workspace = await sslack.shop_workspace(d.conn, d.shop_id) if d.shop_id is not None else None
    deleted, queued = await compliance.redact_shop(d.conn, d.shop, batch)
    erase = SlackErasure(batch=batch, conversation_ids=[], **_workspace_of(workspace)) if queued else None
    return WebhookOutcome(
        status="processed",
        detail="shop data deleted" if deleted else "Zora holds nothing for this shop",
        remove_schedule=True,
        erase_in_slack=erase,
    )


TOPIC_HANDLERS: dict[str, Handler] = {
    "orders/create": order_upsert,
    "orders/updated": order_upsert,
    "orders/paid": order_upsert,
    "orders/fulfilled": order_upsert,
    "orders/cancelled": order_upsert,
    "orders/delete": order_delete,
    "customers/create": customer_upsert,
    "customers/update": customer_upsert,
    "customers/delete": customer_delete,
    "products/create": product_upsert,
    "products/update": product_upsert,
    "products/delete": product_delete,
    "app/uninstalled": app_uninstalled,
    "app/scopes_update": app_scopes_update,
    "customers/data_request": customers_data_request,
    "customers/redact": customers_redact,
    "shop/redact": shop_redact,
}

# Topics Shopify may send that Zora deliberately does nothing with (answered "ignored", not "unsupported").
IGNORED_TOPICS: frozenset[str] = frozenset(
    {"orders/edited", "orders/partially_fulfilled", "customers/enable", "customers/disable"}
)
