"""Shopify workflows: one per webhook delivery, and the per-shop reconciliation.

ShopifyWebhookWorkflow `shopify:wh:{webhook id}` applies one stored delivery. Its id rejects
duplicates, and the activity is idempotent (the inbox row records what was done), so a delivery is
applied once however often Shopify sends it.

ShopifyReconcileWorkflow runs from each shop's Temporal Schedule (and once at install with
`full=True`): it pages every record changed since the watermark through the Admin API, so a webhook
that never arrived is healed within the hour.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from zora.shopify.models import (
        RESOURCES,
        PageResult,
        ReconcileInput,
        ReconcilePlan,
        ReconcileProgress,
        ReconcileResult,
        SaveWatermark,
        ShopRef,
        SyncPage,
        WebhookOutcome,
        WebhookRef,
    )

_DB_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))
_SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=8
)
_SHOPIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5), maximum_attempts=12
)


# Not sandboxed: one run per delivery makes the sandbox's per-run set-up the largest cost of a delivery
# (measured in docs/benchmarks.md, Webhooks). This workflow only calls activities by name with models
# that are pure data, so there is nothing for the sandbox to catch.
@workflow.defn(name="ShopifyWebhookWorkflow", sandboxed=False)
class ShopifyWebhookWorkflow:
    @workflow.run
    async def run(self, ref: WebhookRef) -> WebhookOutcome:
        # A local activity: the delivery is a few statements in one transaction, no extra round trips.
        outcome: WebhookOutcome = await workflow.execute_local_activity(
            "shopify_apply_webhook",
            ref,
            result_type=WebhookOutcome,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_DB_RETRY,
        )
        if outcome.remove_schedule:
            await workflow.execute_activity(
                "shopify_remove_schedule",
                ShopRef(shop=ref.shop),
                result_type=bool,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_DB_RETRY,
            )
        if outcome.erase_in_slack is not None:
            await workflow.execute_activity(
                "shopify_erase_in_slack",
                outcome.erase_in_slack,
                result_type=int,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=_SLACK_RETRY,
            )
        if outcome.export_ready is not None:
            await workflow.execute_activity(
                "shopify_announce_export",
                outcome.export_ready,
                result_type=bool,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_SLACK_RETRY,
            )
        if outcome.notice is not None:
            await workflow.execute_activity(
                "shopify_post_order_notice",
                outcome.notice,
                result_type=bool,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_SLACK_RETRY,
            )
        return outcome


@workflow.defn(name="ShopifyReconcileWorkflow")
class ShopifyReconcileWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileResult:
        progress = input.progress
        if progress is None:
            plan: ReconcilePlan = await workflow.execute_activity(
                "shopify_reconcile_plan",
                input,
                result_type=ReconcilePlan,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_DB_RETRY,
            )
            if not plan.installed:
                return ReconcileResult(shop=input.shop, counts={}, skipped="not installed")
            progress = ReconcileProgress(plan=plan)
        while progress.resource_index < len(RESOURCES):
            resource = RESOURCES[progress.resource_index]
            while True:
                page: PageResult = await workflow.execute_activity(
                    "shopify_sync_page",
                    SyncPage(
                        shop=input.shop,
                        resource=resource,
                        since=progress.plan.since.get(resource),
                        cursor=progress.cursor,
                    ),
                    result_type=PageResult,
                    start_to_close_timeout=timedelta(minutes=2),
                    retry_policy=_SHOPIFY_RETRY,
                )
                progress.counts[resource] = progress.counts.get(resource, 0) + page.count
                if not page.has_next:
                    break
                progress.cursor = page.cursor
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(ReconcileInput(shop=input.shop, full=input.full, progress=progress))
            # The watermark is when this run started: anything changed since is paged next time.
            await workflow.execute_activity(
                "shopify_save_watermark",
                SaveWatermark(
                    shop=input.shop,
                    resource=resource,
                    watermark=progress.plan.started_at,
                    count=progress.counts.get(resource, 0),
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_DB_RETRY,
            )
            progress.resource_index += 1
            progress.cursor = None
        return ReconcileResult(shop=input.shop, counts=progress.counts)
