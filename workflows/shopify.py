"""Shopify workflows: webhook deliveries, one at a time or a shop's waiting ones together, and the
per-shop reconciliation.

ShopifyWebhookWorkflow `shopify:wh:{webhook id}` applies one stored delivery. Its id rejects
duplicates, and the activity is idempotent (the inbox row records what was done), so a delivery is
applied once however often Shopify sends it.

ShopifyWebhookBatchWorkflow `shopify:whb:{first webhook id}:{digest}` applies several deliveries of one shop
that were waiting to be started at the same moment (webhooks/dispatch.py): one workflow and one local
activity for all of them, since a workflow per delivery is what bounded processing to a few dozen
deliveries a second (docs/benchmarks.md, issue 13). Each delivery is still applied once: the inbox
row is locked and its status checked, whichever workflow gets to it.

ShopifyReconcileWorkflow runs from each shop's Temporal Schedule (and once at install with
`full=True`): it pages every record changed since the watermark through the Admin API, so a webhook
that never arrived is healed within the hour.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
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
    from zora.shopify.models import (
        RESOURCES,
        ReconcileInput,
        ReconcileProgress,
        ReconcileResult,
        SaveWatermark,
        ShopRef,
        SyncPage,
        WebhookBatch,
        WebhookBatchOutcome,
        WebhookOutcome,
        WebhookRef,
    )
    from zora.workflow_api import ShopifyReconcileApi, ShopifyWebhookApi, ShopifyWebhookBatchApi


async def _follow_up(ref: WebhookRef, outcome: WebhookOutcome) -> None:
    """What a delivery's outcome asks for beyond the database."""
    if outcome.remove_schedule:
        await SHOPIFY_REMOVE_SCHEDULE.run(ShopRef(shop=ref.shop))
    if outcome.erase_in_slack is not None:
        await SHOPIFY_ERASE_IN_SLACK.run(outcome.erase_in_slack)
    if outcome.export_ready is not None:
        await SHOPIFY_ANNOUNCE_EXPORT.run(outcome.export_ready)
    if outcome.notice is not None:
        await SHOPIFY_POST_ORDER_NOTICE.run(outcome.notice)


# Not sandboxed: one run per delivery makes the sandbox's per-run set-up the largest cost of a delivery
# (measured in docs/benchmarks.md, Webhooks). This workflow only calls activities with models
# that are pure data, so there is nothing for the sandbox to catch.
@workflow.defn(name="ShopifyWebhookWorkflow", sandboxed=False)
class ShopifyWebhookWorkflow(ShopifyWebhookApi):
    @workflow.run
    async def run(self, ref: WebhookRef) -> WebhookOutcome:
        outcome = await SHOPIFY_APPLY_WEBHOOK.run(ref)
        await _follow_up(ref, outcome)
        return outcome


# Not sandboxed, for the same reason as the single delivery's workflow.
@workflow.defn(name="ShopifyWebhookBatchWorkflow", sandboxed=False)
class ShopifyWebhookBatchWorkflow(ShopifyWebhookBatchApi):
    @workflow.run
    async def run(self, batch: WebhookBatch) -> WebhookBatchOutcome:
        result = await SHOPIFY_APPLY_WEBHOOKS.run(batch)
        # In the order the deliveries were taken (a shop's order notices keep their order in a thread).
        for webhook_id, outcome in list(result.outcomes.items()):
            await _follow_up(next(r for r in batch.refs if r.webhook_id == webhook_id), outcome)
        # One that met an unexpected error is applied alone afterwards, with the activity's own
        # retries: it holds up neither the others nor their follow-ups.
        for ref in result.failed:
            outcome = result.outcomes[ref.webhook_id] = await SHOPIFY_APPLY_WEBHOOK.run(ref)
            await _follow_up(ref, outcome)
        result.failed = []
        return result


@workflow.defn(name="ShopifyReconcileWorkflow")
class ShopifyReconcileWorkflow(ShopifyReconcileApi):
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileResult:
        progress = input.progress
        if progress is None:
            plan = await SHOPIFY_RECONCILE_PLAN.run(input)
            if not plan.installed:
                return ReconcileResult(shop=input.shop, counts={}, skipped="not installed")
            progress = ReconcileProgress(plan=plan)
        while progress.resource_index < len(RESOURCES):
            resource = RESOURCES[progress.resource_index]
            while True:
                page = await SHOPIFY_SYNC_PAGE.run(
                    SyncPage(
                        shop=input.shop,
                        resource=resource,
                        since=progress.plan.since.get(resource),
                        cursor=progress.cursor,
                    )
                )
                progress.counts[resource] = progress.counts.get(resource, 0) + page.count
                if not page.has_next:
                    break
                progress.cursor = page.cursor
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(ReconcileInput(shop=input.shop, full=input.full, progress=progress))
            # The watermark is when this run started: anything changed since is paged next time.
            await SHOPIFY_SAVE_WATERMARK.run(
                SaveWatermark(
                    shop=input.shop,
                    resource=resource,
                    watermark=progress.plan.started_at,
                    count=progress.counts.get(resource, 0),
                )
            )
            progress.resource_index += 1
            progress.cursor = None
        return ReconcileResult(shop=input.shop, counts=progress.counts)
