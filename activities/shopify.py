"""Side effects of the Shopify workflows: the webhook inbox, guarded upserts, Slack notes, reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.calls import (
    SHOPIFY_ANNOUNCE_EXPORT,
    SHOPIFY_APPLY_WEBHOOK,
    SHOPIFY_APPLY_WEBHOOKS,
    SHOPIFY_ERASE_IN_SLACK,
    SHOPIFY_POST_ORDER_NOTICE,
    SHOPIFY_RECONCILE_PLAN,
    SHOPIFY_REMOVE_SCHEDULE,
    SHOPIFY_SAVE_WATERMARK,
    SHOPIFY_SYNC_PAGE,
)
from activities.slack_errors import raise_if_rate_limited
from bot.card import redraw_card
from webhooks.topics import TOPIC_HANDLERS, Delivery, RejectedDelivery, order_notice_text
from zora.db import Pool
from zora.http import client_session
from zora.security import SealError
from zora.settings import Settings
from zora.shopify import sync
from zora.shopify.admin import Bucket, ShopifyError, ShopifyRateLimited
from zora.shopify.models import (
    ExportReady,
    OrderNotice,
    PageResult,
    ReconcileInput,
    ReconcilePlan,
    SaveWatermark,
    ShopRef,
    SlackErasure,
    SyncPage,
    WebhookBatch,
    WebhookBatchOutcome,
    WebhookOutcome,
    WebhookRef,
)
from zora.slack_api import SlackGateway, SlackWorkspaces, classify
from zora.slack_text import escape
from zora.store import compliance as scompliance
from zora.store import schema
from zora.store import shopify as sshopify
from zora.store import shops as sshops
from zora.store import webhooks as swebhooks
from zora.temporal import remove_reconcile_schedule

log = logging.getLogger(__name__)


def shopify_failure(exc: ShopifyError) -> ApplicationError:
    """How an Admin API failure reaches Temporal: 429 waits Retry-After, auth and query errors stop."""
    if isinstance(exc, ShopifyRateLimited):
        return ApplicationError(
            str(exc), type="ShopifyRateLimited", next_retry_delay=timedelta(seconds=max(exc.retry_after, 1.0))
        )
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=not exc.retryable)


class ShopifyActivities:
    def __init__(
        self,
        pool: Pool,
        temporal: Client,
        slack: SlackGateway,
        settings: Settings,
        close_sockets: Callable[[list[UUID]], Awaitable[int]] | None = None,
        workspaces: SlackWorkspaces | None = None,
    ) -> None:
        self.pool = pool
        # Each shop's own workspace (issue 11 §2) for what is posted for one shop.
        self.workspaces = workspaces or SlackWorkspaces(slack)
        # Closes the open sockets of shoppers whose tokens a redaction revoked (widget/emitter.py).
        self.close_sockets = close_sockets
        self.temporal = temporal
        self.slack = slack
        self.settings = settings
        # What Shopify last said about each shop's cost bucket, shared by every page this worker fetches.
        self._buckets: dict[str, Bucket] = {}

    def all(self) -> list[Any]:
        return [
            self.apply_webhook,
            self.apply_webhooks,
            self.post_order_notice,
            self.erase_in_slack,
            self.announce_export,
            self.remove_schedule,
            self.reconcile_plan,
            self.sync_page,
            self.save_watermark,
        ]

    @SHOPIFY_APPLY_WEBHOOK.defn
    async def apply_webhook(self, ref: WebhookRef) -> WebhookOutcome:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await swebhooks.lock(conn, ref.webhook_id)
            if row is None:
                # shop/redact removed it with the rest of the shop's data.
                return WebhookOutcome(status="ignored", detail="delivery no longer stored")
            if row.status != "received":
                # A retry of an activity that committed: answer what was done, do nothing twice.
                return WebhookOutcome(status=row.status, detail=row.detail)
            if row.shop_domain != ref.shop or row.topic != ref.topic:
                raise ApplicationError("inbox row does not match the workflow input", non_retryable=True)
            handler = TOPIC_HANDLERS.get(row.topic)
            shop_id = await sshops.id_of(conn, ref.shop)
            if handler is None:
                outcome = WebhookOutcome(status="unsupported", detail=f"no handler for {row.topic}")
            else:
                delivery = Delivery(
                    conn=conn,
                    shop=ref.shop,
                    shop_id=shop_id,
                    topic=row.topic,
                    payload=row.payload or {},
                    now=await schema.now(conn),
                )
                try:
                    async with conn.transaction():
                        outcome = await handler(delivery)
                except RejectedDelivery as exc:
                    outcome = WebhookOutcome(status="failed", detail=str(exc))
                except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                    # A body not shaped like the topic's (a field missing, a list where an object goes):
                    # no retry reads it differently, so it is recorded as failed with its payload kept
                    # for a look, instead of being retried for ever.
                    # Only the kind of error (and a validation error's field paths): its text can quote the
                    # payload (an email, a phone), and the detail is logged, stored and returned to Temporal.
                    where = ""
                    if isinstance(exc, ValidationError):
                        where = " at " + ", ".join(
                            ".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)
                        )
                    outcome = WebhookOutcome(
                        status="failed", detail=f"malformed {row.topic} payload: {type(exc).__name__}{where}"[:500]
                    )
            # The synced tables now hold what matters; the raw body (personal data) goes, unless it failed.
            await swebhooks.settle(conn, ref.webhook_id, outcome.status, outcome.detail)
        if outcome.status == "failed":
            log.warning("shopify webhook %s (%s) rejected: %s", ref.webhook_id, ref.topic, outcome.detail)
        if outcome.revoked_shoppers and self.close_sockets is not None:
            # After the commit: a socket reconnecting now meets the revoked version.
            await self.close_sockets(outcome.revoked_shoppers)
        return outcome

    @SHOPIFY_APPLY_WEBHOOKS.defn
    async def apply_webhooks(self, batch: WebhookBatch) -> WebhookBatchOutcome:
        """Each delivery as `apply_webhook` applies it alone (its own transaction, its row locked and
        its status checked); one that fails unexpectedly (its transaction rolled back, its row still
        `received`) is handed back for the workflow to apply alone with retries."""
        result = WebhookBatchOutcome()
        for ref in batch.refs:
            if ref.webhook_id in result.outcomes or ref in result.failed:
                continue  # the same delivery queued twice (the sweep and the route)
            try:
                outcome = await self.apply_webhook(ref)
                if outcome.notice is not None and not await self._has_open_thread(outcome.notice):
                    # Nobody to tell (the usual case): no activity for it. One opening meanwhile is
                    # the same race as between the delivery and the notice's own activity.
                    outcome.notice = None
                result.outcomes[ref.webhook_id] = outcome
            except Exception:
                log.exception(
                    "shopify webhook %s (%s) failed in a batch; applied alone next", ref.webhook_id, ref.topic
                )
                result.failed.append(ref)
        return result

    async def _has_open_thread(self, notice: OrderNotice) -> bool:
        async with self.pool.acquire() as conn:
            thread = await sshopify.open_thread_of_customer(conn, notice.shop_id, notice.shopify_customer_id)
        return thread is not None

    @SHOPIFY_ANNOUNCE_EXPORT.defn
    async def announce_export(self, ready: ExportReady) -> bool:
        """customers/data_request: Shopify expects the merchant to hand the export to the customer, so
        the team hears where it is (the shop's support channel)."""
        async with self.pool.acquire() as conn:
            channel = await sshops.slack_channel(conn, ready.shop_id)
        if not channel:
            log.warning("customer data export %s is ready, but the shop has no Slack channel", ready.export_id)
            return False
        text = (
            f":inbox_tray: A customer asked Shopify for their data. Zora's export ({ready.records} records, chats"
            f" included) is ready: `zora shopify export {ready.export_id}` prints it as JSON, to send to the customer."
        )
        return await self._post(ready.shop_id, "export announcement", channel=channel, text=text)

    @SHOPIFY_ERASE_IN_SLACK.defn
    async def erase_in_slack(self, erasure: SlackErasure) -> int:
        """Compliance redactions reach Slack too: delete the shopper's words and files Zora posted
        there (and, for shop/redact, the cards), and redraw the cards that stay (they no longer name
        the shopper). Works through the batch in PostgreSQL, removing each entry once Slack has
        deleted it, so a retry goes on where it stopped. Replies agents wrote are theirs: Slack
        lets only their authors or an admin delete them (see docs/shopify.md)."""
        # The shop's own workspace when it added one; a removed one's gateway has no token (nothing erased).
        slack = await self.workspaces.for_team(erasure.team_id, erasure.enterprise_id)
        deleted = 0
        for copy in erasure.messages:
            deleted += await self._erase(slack, channel=copy.channel, ts=copy.ts, file_id=None)
        while erasure.batch is not None:
            async with self.pool.acquire() as conn:
                rows = await scompliance.erasures(conn, erasure.batch, 100)
            if not rows:
                break
            for row in rows:
                activity.heartbeat(row.id)
                deleted += await self._erase(slack, channel=row.channel_id, ts=row.ts, file_id=row.file_id)
                async with self.pool.acquire() as conn:
                    await scompliance.erased(conn, row.id)
        for conversation_id in erasure.conversation_ids:
            try:
                await redraw_card(self.pool, slack, conversation_id)
            except SlackApiError as exc:
                log.warning("could not redraw a redacted conversation's card: %s", exc.response.get("error"))
        return deleted

    async def _erase(self, slack: SlackGateway, *, channel: str | None, ts: str | None, file_id: str | None) -> int:
        """1 when Slack deleted it, 0 when it was gone already or Slack cannot be reached for good."""
        try:
            if file_id is not None:
                await slack.files_delete(file=file_id)
            else:
                await slack.chat_delete(channel=channel or "", ts=ts or "")
        except SlackApiError as exc:
            raise_if_rate_limited(exc)
            failure = classify(exc)
            if not (failure.needs_a_person or failure.kind == "gone"):
                raise
            return 0
        return 1

    @SHOPIFY_POST_ORDER_NOTICE.defn
    async def post_order_notice(self, notice: OrderNotice) -> bool:
        """Into the thread of the customer's open conversation; nothing when there is none."""
        async with self.pool.acquire() as conn:
            thread = await sshopify.open_thread_of_customer(conn, notice.shop_id, notice.shopify_customer_id)
            text = notice.text
            if text is None and notice.shopify_order_id is not None and notice.topic is not None:
                order = await sshopify.order_for_notice(conn, notice.shop_id, notice.shopify_order_id)
                text = order_notice_text(notice.topic, order) if order is not None else None
        if thread is None or text is None:
            return False
        # The notice is plain words built from the order (its name, carrier, tracking number, all set outside
        # Zora), with no markup of Zora's: Slack shows all of it as text.
        return await self._post(
            notice.shop_id, "order notice", channel=thread[0], thread_ts=thread[1], text=escape(text)
        )

    async def _post(self, shop_id: int, what: str, *, channel: str, text: str, **thread: str) -> bool:
        """Post in the shop's own workspace (in a thread when given `thread_ts`); False (logged) when Slack
        will not take it however often it is tried."""
        try:
            slack = await self.workspaces.for_shop(shop_id)
            await slack.chat_postMessage(channel=channel, text=text, **thread)
        except SlackApiError as exc:
            raise_if_rate_limited(exc)
            failure = classify(exc)
            if failure.needs_a_person or failure.kind == "gone":
                log.warning("%s not posted: %s", what, failure.error)
                return False
            raise
        return True

    @SHOPIFY_REMOVE_SCHEDULE.defn
    async def remove_schedule(self, ref: ShopRef) -> bool:
        return await remove_reconcile_schedule(self.temporal, ref.shop)

    @SHOPIFY_RECONCILE_PLAN.defn
    async def reconcile_plan(self, req: ReconcileInput) -> ReconcilePlan:
        return await sync.plan(self.pool, req.shop, full=req.full)

    @SHOPIFY_SYNC_PAGE.defn
    async def sync_page(self, req: SyncPage) -> PageResult:
        try:
            shop_id, token = await sync.shop_credentials(self.pool, self.settings, req.shop)
        except sync.NotInstalled as exc:
            raise ApplicationError(str(exc), type="NotInstalled", non_retryable=True) from None
        except SealError as exc:
            # Only an operator fixes this (the key); retrying would not.
            raise ApplicationError(str(exc), type="SealError", non_retryable=True) from None
        bucket = self._buckets.setdefault(req.shop, Bucket())
        async with client_session() as http:
            client = sync.admin_client(http, self.settings, req.shop, token, bucket)
            try:
                result = await sync.sync_page(self.pool, client, shop_id, req.resource, req.since, req.cursor)
            except ShopifyError as exc:
                raise shopify_failure(exc) from None
            finally:
                self._buckets[req.shop] = client.bucket
        return result

    @SHOPIFY_SAVE_WATERMARK.defn
    async def save_watermark(self, req: SaveWatermark) -> None:
        await sync.save_watermark(self.pool, req.shop, req.resource, req.watermark, req.count)
