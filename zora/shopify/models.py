"""Models of the Shopify side, shared by the web process, workflows and activities.

Workflows import this module: pydantic and the standard library only.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

Resource = Literal["products", "customers", "orders"]
RESOURCES: tuple[Resource, ...] = ("products", "customers", "orders")

WebhookStatus = Literal["received", "processed", "stale", "ignored", "unsupported", "failed"]


def webhook_workflow_id(webhook_id: str) -> str:
    return f"shopify:wh:{webhook_id}"


def webhook_batch_workflow_id(refs: list[WebhookRef]) -> str:
    """Named after its first delivery and a digest of all of them: the same batch started twice is
    rejected like a delivery, while a delivery swept up again with others (its first batch still
    running, or failed) makes a new batch that is not mistaken for the old one."""
    digest = hashlib.sha256("\n".join(r.webhook_id for r in refs).encode()).hexdigest()[:16]
    return f"shopify:whb:{refs[0].webhook_id}:{digest}"


def reconcile_schedule_id(shop: str) -> str:
    return f"shopify:reconcile:{shop}"


def reconcile_workflow_id(shop: str) -> str:
    # A schedule appends the scheduled time to this id, so each run is its own workflow in the UI.
    return f"shopify:reconcile:{shop}"


# Webhooks.


class WebhookRef(BaseModel):
    """ShopifyWebhookWorkflow's input: which inbox row to process. The payload stays in PostgreSQL."""

    webhook_id: str
    shop: str
    topic: str


class OrderNotice(BaseModel):
    """A line for the Slack thread of the customer's open conversation: ids only. Workflow histories are
    kept by Temporal (and shown in its UI) outside the shop's data and its redaction, so the order's
    words (name, items, tracking) are read from PostgreSQL by the activity that posts the line."""

    shop_id: int
    shopify_customer_id: int
    shopify_order_id: int | None = None
    # The webhook topic that happened (orders/create, orders/paid, ...).
    topic: str | None = None
    # Carried inline by deliveries recorded before the line was built in the activity.
    text: str | None = None


class SlackCopy(BaseModel):
    channel: str
    ts: str


class SlackErasure(BaseModel):
    """customers/redact and shop/redact reach Slack: what to delete there is listed in PostgreSQL
    (`slack_erasures`, by `batch`), and the conversations whose cards named the shopper are redrawn."""

    batch: UUID | None = None
    conversation_ids: list[UUID] = []
    # Carried inline by deliveries recorded before the batch table existed.
    messages: list[SlackCopy] = []
    # The shop's own workspace (Add to Slack) when it had one, read when the redaction was applied (a
    # shop/redact deletes the shop): erased there. None: the SLACK_BOT_TOKEN workspace.
    team_id: str | None = None
    enterprise_id: str | None = None


class ExportReady(BaseModel):
    shop_id: int
    export_id: int
    records: int


class WebhookOutcome(BaseModel):
    status: WebhookStatus
    detail: str | None = None
    notice: OrderNotice | None = None
    # app/uninstalled and shop/redact: the shop's reconcile schedule must go.
    remove_schedule: bool = False
    erase_in_slack: SlackErasure | None = None
    # customers/data_request: the export is stored; tell the merchant's team where to get it.
    export_ready: ExportReady | None = None
    # customers/redact: shoppers whose tokens were revoked; their open sockets are closed once committed.
    revoked_shoppers: list[UUID] = Field(default_factory=list)


class WebhookBatch(BaseModel):
    """ShopifyWebhookBatchWorkflow's input: deliveries of one shop that waited to be started together."""

    refs: list[WebhookRef]


class WebhookBatchOutcome(BaseModel):
    """Each delivery's outcome, in the batch's order; `failed` are those the batch could not apply (an
    unexpected error): the workflow applies each of them alone, with the activity's retries."""

    outcomes: dict[str, WebhookOutcome] = Field(default_factory=dict)
    failed: list[WebhookRef] = Field(default_factory=list)


class ShopRef(BaseModel):
    shop: str


# Reconciliation.


class ReconcileInput(BaseModel):
    shop: str
    # True: page everything (install, `zora shopify sync`); False: only what changed since the watermark.
    full: bool = False
    # Set when the run continued as new part-way through.
    progress: ReconcileProgress | None = None


class ReconcilePlan(BaseModel):
    started_at: datetime
    since: dict[str, datetime | None]
    installed: bool


class ReconcileProgress(BaseModel):
    plan: ReconcilePlan
    resource_index: int = 0
    cursor: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class SyncPage(BaseModel):
    shop: str
    resource: Resource
    since: datetime | None = None
    cursor: str | None = None


class PageResult(BaseModel):
    count: int
    cursor: str | None
    has_next: bool


class SaveWatermark(BaseModel):
    shop: str
    resource: Resource
    watermark: datetime
    count: int


class ReconcileResult(BaseModel):
    shop: str
    counts: dict[str, int]
    skipped: str | None = None


# What agents see.


class CustomerSummary(BaseModel):
    id: int
    shopify_customer_id: int | None
    name: str | None
    email: str | None
    phone: str | None
    tags: list[str]
    # Why this row matched a search: "email", "phone", "tag", "order", "name".
    matched: str | None = None


class Tracking(BaseModel):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class OrderSummary(BaseModel):
    shopify_order_id: int
    name: str
    processed_at: datetime | None
    financial_status: str | None
    fulfillment_status: str | None
    cancelled: bool
    total: Decimal
    currency: str | None
    items: int
    tracking: list[Tracking]


class TopProduct(BaseModel):
    title: str
    quantity: int


class CustomerAnalytics(BaseModel):
    """Holds for any shop: only counts, money in the shop's currency, and days."""

    order_count: int
    valid_order_count: int
    cancelled_count: int
    refunded_count: int
    total_spent: Decimal
    average_order_value: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None
    days_since_last_order: int | None
    # Mean days between valid orders; None with fewer than two.
    purchase_interval_days: float | None
    orders_per_year: float | None
    top_products: list[TopProduct]
    currency: str | None


class CustomerScores(BaseModel):
    """0-100 each; formulas in docs/scores.md."""

    value: int
    loyalty: int
    engagement: int


class CustomerProfile(BaseModel):
    customer: CustomerSummary
    note: str | None
    state: str | None
    city: str | None
    country: str | None
    customer_since: datetime | None
    analytics: CustomerAnalytics
    scores: CustomerScores
    recent_orders: list[OrderSummary]
    admin_url: str | None = None


ReconcileInput.model_rebuild()
