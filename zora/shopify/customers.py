"""The customer data agents see: search, recent orders, profile with analytics and scores, and tag/note
write-back to Shopify. The Slack card, `/zora` search and AI tools call this.

Every method takes the shop's id and works inside that shop only. `customer_id` is Zora's
`customers.id` (what `shoppers.customer_id` points at), not Shopify's id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

import aiohttp

from zora.db import Pool, Row
from zora.errors import ZoraError
from zora.http import client_session
from zora.settings import Settings
from zora.shopify import scores as scoring
from zora.shopify import sync
from zora.shopify.admin import CUSTOMER_UPDATE_NOTE, TAGS_ADD, TAGS_REMOVE, AdminClient
from zora.shopify.contact import ADDRESS_CREATE, ADDRESS_UPDATE, CONTACT_UPDATE, DEFAULT_ADDRESS, ContactChange
from zora.shopify.models import CustomerProfile, CustomerSummary, OrderSummary, Tracking
from zora.shopify.records import gid, split_tags
from zora.store import customers as scustomers

MAX_NOTE_LENGTH = 5000
# Trigram similarity above which a name counts as a match (pg_trgm's default is 0.3).
NAME_SIMILARITY = 0.3


class CustomerNotFound(ZoraError):
    pass


def _order(row: Row) -> OrderSummary:
    tracking = [Tracking(**t) for f in row["fulfillments"] or [] for t in f.get("tracking") or []]
    return OrderSummary(
        shopify_order_id=row["shopify_order_id"],
        name=row["name"],
        processed_at=row["processed_at"],
        financial_status=row["financial_status"],
        fulfillment_status=row["fulfillment_status"],
        cancelled=row["cancelled_at"] is not None,
        total=row["current_total_price"],
        currency=row["currency"],
        items=sum(int(li.get("quantity") or 0) for li in row["line_items"] or []),
        tracking=tracking,
    )


class CustomerDirectory:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    async def search(self, shop_id: int, query: str, *, limit: int = 10) -> list[CustomerSummary]:
        """By order number (#1001), email, phone, tag or name; best kind of match first."""
        q = query.strip()
        if not q:
            return []
        found: dict[int, CustomerSummary] = {}
        async with self.pool.acquire() as conn:
            number = q.lstrip("#")
            if number.isdigit():
                rows = await scustomers.by_order(
                    conn, shop_id, int(number) if len(number) < 18 else -1, f"#{number}", limit
                )
                self._add(found, rows, "order")
            if "@" in q:
                rows = await scustomers.by_email(conn, shop_id, _like(q.lower()) + "%", q, limit)
                self._add(found, rows, "email")
            digits = re.sub(r"\D", "", q)
            if len(digits) >= 6 and not re.search(r"[A-Za-z@]", q):
                rows = await scustomers.by_phone(conn, shop_id, "%" + digits, limit)
                self._add(found, rows, "phone")
            rows = await scustomers.by_tag(conn, shop_id, q, limit)
            self._add(found, rows, "tag")
            if "@" not in q and not number.isdigit():
                rows = await scustomers.by_name(conn, shop_id, "%" + _like(q.lower()) + "%", q, NAME_SIMILARITY, limit)
                self._add(found, rows, "name")
        return list(found.values())[:limit]

    @staticmethod
    def _add(found: dict[int, CustomerSummary], rows: list[Row], matched: str) -> None:
        for row in rows:
            found.setdefault(row["id"], scustomers.summary(row, matched))

    async def recent_orders(self, shop_id: int, customer_id: int, *, limit: int = 5) -> list[OrderSummary]:
        async with self.pool.acquire() as conn:
            rows = await scustomers.recent_orders(conn, shop_id, customer_id, limit)
        return [_order(r) for r in rows]

    async def profile(self, shop_id: int, customer_id: int, *, now: datetime | None = None) -> CustomerProfile:
        now = now or datetime.now(UTC)
        async with self.pool.acquire() as conn:
            row = await scustomers.customer(conn, shop_id, customer_id)
            if row is None:
                raise CustomerNotFound(f"no customer {customer_id} in shop {shop_id}")
            orders = await scustomers.orders_of(conn, shop_id, row["shopify_customer_id"])
            facts = [
                scoring.OrderFacts(
                    processed_at=o["processed_at"],
                    amount=o["current_total_price"],
                    financial_status=o["financial_status"],
                    cancelled=o["cancelled_at"] is not None,
                    test=o["test"],
                    items=[(str(li.get("title") or ""), int(li.get("quantity") or 0)) for li in o["line_items"] or []],
                    currency=o["currency"],
                )
                for o in orders
            ]
            analytics = scoring.analytics(facts, now)
            at_or_below, buyers = await scustomers.spend_rank(conn, shop_id, analytics.total_spent)
            median_gap = await scustomers.median_order_gap_days(conn, shop_id)
        half_life = scoring.shop_half_life(median_gap)
        return CustomerProfile(
            customer=scustomers.summary(row),
            note=row["note"],
            state=row["state"],
            city=row["city"],
            country=row["country"],
            customer_since=row["shopify_created_at"] or row["created_at"],
            analytics=analytics,
            scores=scoring.scores(analytics, at_or_below, buyers, half_life),
            recent_orders=[_order(o) for o in orders[:5]],
            admin_url=(
                f"https://{row['domain']}/admin/customers/{row['shopify_customer_id']}"
                if row["shopify_customer_id"]
                else None
            ),
        )

    async def profile_for_conversation(self, shop_id: int, conversation_id: UUID) -> CustomerProfile | None:
        """The profile of the customer behind a conversation; None while the shopper is anonymous."""
        async with self.pool.acquire() as conn:
            customer_id = await scustomers.of_conversation(conn, shop_id, conversation_id)
        if customer_id is None:
            return None
        try:
            return await self.profile(shop_id, customer_id)
        except CustomerNotFound:
            return None

    # Write-back: Shopify first, then our copy (the customers/update webhook that follows is then stale).

    async def add_tags(self, shop_id: int, customer_id: int, tags: list[str]) -> list[str]:
        return await self._tags(shop_id, customer_id, split_tags(tags), add=True)

    async def remove_tags(self, shop_id: int, customer_id: int, tags: list[str]) -> list[str]:
        return await self._tags(shop_id, customer_id, split_tags(tags), add=False)

    async def set_note(self, shop_id: int, customer_id: int, note: str) -> str:
        if len(note) > MAX_NOTE_LENGTH:
            raise ValueError(f"a note is at most {MAX_NOTE_LENGTH} characters")
        shop, token, shopify_id = await self._target(shop_id, customer_id)
        async with client_session() as http:
            payload = await self._client(http, shop, token).mutate(
                CUSTOMER_UPDATE_NOTE, {"input": {"id": gid("Customer", shopify_id), "note": note}}, "customerUpdate"
            )
        async with self.pool.acquire() as conn:
            await scustomers.set_note(conn, shop_id, customer_id, note)
        return str((payload.get("customer") or {}).get("note") or note)

    async def contact(self, shop_id: int, customer_id: int) -> dict[str, str]:
        """What the contact form starts from: name parts, email, phone, and the city and country of the
        default address (the rest of it is not kept here)."""
        async with self.pool.acquire() as conn:
            row = await scustomers.customer(conn, shop_id, customer_id)
        if row is None:
            raise CustomerNotFound(f"no customer {customer_id} in shop {shop_id}")
        keys = ("first_name", "last_name", "email", "phone", "city", "country")
        return {k: str(row[k]) for k in keys if row[k]}

    async def update_contact(self, shop_id: int, customer_id: int, change: ContactChange) -> None:
        """Shopify first (its userErrors raise ShopifyQueryError, nothing is stored then), then our copy."""
        shop, token, shopify_id = await self._target(shop_id, customer_id)
        customer_gid = gid("Customer", shopify_id)
        async with client_session() as http:
            client = self._client(http, shop, token)
            if fields := change.customer_input():
                await client.mutate(CONTACT_UPDATE, {"input": {"id": customer_gid, **fields}}, "customerUpdate")
            if change.address is not None:
                found = await client.execute(DEFAULT_ADDRESS, {"id": customer_gid})
                default = ((found.get("customer") or {}).get("defaultAddress") or {}).get("id")
                address = change.address.mailing_input()
                if default:
                    variables = {"customerId": customer_gid, "addressId": default, "address": address}
                    await client.mutate(ADDRESS_UPDATE, variables, "customerAddressUpdate")
                else:
                    variables = {"customerId": customer_gid, "address": address}
                    await client.mutate(ADDRESS_CREATE, variables, "customerAddressCreate")
        async with self.pool.acquire() as conn:
            await scustomers.set_contact(conn, shop_id, customer_id, change)

    async def _tags(self, shop_id: int, customer_id: int, tags: list[str], *, add: bool) -> list[str]:
        if not tags:
            raise ValueError("no tags given")
        shop, token, shopify_id = await self._target(shop_id, customer_id)
        async with client_session() as http:
            await self._client(http, shop, token).mutate(
                TAGS_ADD if add else TAGS_REMOVE,
                {"id": gid("Customer", shopify_id), "tags": tags},
                "tagsAdd" if add else "tagsRemove",
            )
        async with self.pool.acquire() as conn:
            return await scustomers.change_tags(conn, shop_id, customer_id, tags, add=add)

    async def _target(self, shop_id: int, customer_id: int) -> tuple[str, str, int]:
        async with self.pool.acquire() as conn:
            target = await scustomers.shopify_target(conn, shop_id, customer_id)
        domain, shopify_customer_id = target if target is not None else ("", None)
        if shopify_customer_id is None:
            raise CustomerNotFound(f"no Shopify customer {customer_id} in shop {shop_id}")
        try:
            # The one way to a shop's token: opened, and sealed again with the current key if needed.
            _, token = await sync.shop_credentials(self.pool, self.settings, domain)
        except sync.NotInstalled as exc:
            raise CustomerNotFound(str(exc)) from None
        return domain, token, shopify_customer_id

    def _client(self, http: aiohttp.ClientSession, shop: str, token: str) -> AdminClient:
        return sync.admin_client(http, self.settings, shop, token)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["CustomerDirectory", "CustomerNotFound"]
