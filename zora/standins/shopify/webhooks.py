"""Webhooks: REST-shaped bodies, signed as Shopify signs them, posted to Zora."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from zora.shopify import samples
from zora.shopify.records import gid_to_id
from zora.shopify.signing import webhook_hmac
from zora.standins.shopify.shops import Shops, StandInError


class Webhooks(Shops):
    """Signed deliveries to ``webhook_url``."""

    def webhook_body(self, domain: str, topic: str, record: dict[str, Any]) -> dict[str, Any]:
        """The REST-shaped webhook body for a record held here."""
        shop = self.shops[domain]
        if topic.endswith("/delete"):
            return {"id": gid_to_id(record["id"])}
        if topic.startswith("orders/"):
            customer = shop.customers.get(gid_to_id((record.get("customer") or {}).get("id")) or 0)
            return samples.rest_order(record, customer)
        if topic.startswith("customers/"):
            return samples.rest_customer(record)
        return samples.rest_product(record)

    def signed_delivery(
        self,
        topic: str,
        domain: str,
        payload: dict[str, Any],
        *,
        webhook_id: str | None = None,
        event_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(secret or self.api_secret, body),
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        }
        return body, headers

    async def send_webhook(
        self,
        topic: str,
        domain: str,
        payload: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[int, dict[str, Any]]:
        if self.webhook_url is None or self._http is None:
            raise StandInError("no webhook_url (or not started)")
        body, headers = self.signed_delivery(topic, domain, payload or samples.sample_payload(topic, domain), **options)
        async with self._http.post(self.webhook_url, data=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            return resp.status, answer
