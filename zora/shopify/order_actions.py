"""Approved drafted actions (issue 12 §6) as Admin GraphQL calls on one order.

- cancel_order: `orderCancel` (reason CUSTOMER, refunded to the original payment methods, restocked,
  Shopify notifies the customer; Shopify cancels in a background job and answers with the job). A
  cancellation cannot be undone, so a repeated run first reads the order: one cancelled already is done.
- refund_request: a tag `refund-requested` on the order (`tagsAdd`), not `refundCreate`. A refund moves
  money and cannot be undone, and its amounts and lines would come from a model's reading of a chat:
  the agent who approved the request in Slack does the refund in Shopify admin, where Shopify computes
  it; the tag makes the order easy to find there. Adding a tag twice is harmless.
- address_change: `orderUpdate` with the new `shippingAddress` (MailingAddressInput). Idempotent.

Errors: the mutation's user errors become ShopifyQueryError (not retried); throttling and outages come
from AdminClient as its retryable errors.
"""

from __future__ import annotations

from typing import Any

from zora.shopify.admin import TAGS_ADD, AdminClient, ShopifyQueryError
from zora.shopify.records import gid

REFUND_TAG = "refund-requested"

ORDER_STATE = "query ZoraOrderState($id: ID!) { order(id: $id) { id name cancelledAt } }"
ORDER_CANCEL = (
    "mutation ZoraOrderCancel($orderId: ID!, $reason: OrderCancelReason!,"
    " $refundMethod: OrderCancelRefundMethodInput, $restock: Boolean!, $notifyCustomer: Boolean,"
    " $staffNote: String) {"
    " orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock,"
    " notifyCustomer: $notifyCustomer, staffNote: $staffNote) {"
    " job { id done } orderCancelUserErrors { field message code } } }"
)
ORDER_UPDATE_ADDRESS = (
    "mutation ZoraOrderAddress($input: OrderInput!) { orderUpdate(input: $input) {"
    " order { id shippingAddress { address1 address2 city zip provinceCode countryCodeV2 } }"
    " userErrors { field message } } }"
)


async def is_cancelled(client: AdminClient, order_id: int) -> bool:
    data = await client.execute(ORDER_STATE, {"id": gid("Order", order_id)})
    order = data.get("order")
    if order is None:
        raise ShopifyQueryError(f"order {order_id} does not exist")
    return bool(order.get("cancelledAt"))


async def cancel(client: AdminClient, order_id: int, staff_note: str) -> None:
    if await is_cancelled(client, order_id):
        return  # a previous try cancelled it (Shopify cancels in a background job)
    data = await client.execute(
        ORDER_CANCEL,
        {
            "orderId": gid("Order", order_id),
            "reason": "CUSTOMER",
            # Since API 2025-07 the refund is said this way (the Boolean `refund` is deprecated).
            "refundMethod": {"originalPaymentMethodsRefund": True},
            "restock": True,
            "notifyCustomer": True,
            "staffNote": staff_note[:255],
        },
    )
    payload: dict[str, Any] = data.get("orderCancel") or {}
    errors = payload.get("orderCancelUserErrors") or payload.get("userErrors") or []
    if errors:
        raise ShopifyQueryError("; ".join(str(e.get("message")) for e in errors))


async def tag_refund_request(client: AdminClient, order_id: int) -> None:
    await client.mutate(TAGS_ADD, {"id": gid("Order", order_id), "tags": [REFUND_TAG]}, "tagsAdd")


async def change_address(client: AdminClient, order_id: int, address: dict[str, str]) -> None:
    await client.mutate(
        ORDER_UPDATE_ADDRESS, {"input": {"id": gid("Order", order_id), "shippingAddress": address}}, "orderUpdate"
    )
