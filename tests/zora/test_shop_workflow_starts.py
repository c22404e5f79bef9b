"""The Shopify workflows Zora starts for a shop (a delivery, a batch of them, the initial import): each under
its id, found by its shop (the ZoraShop search attribute) and summarised in Temporal's UI, and started twice
as each must be (a delivery once ever, the import joined while it runs)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from zora.models import SA_SHOP
from zora.shopify.models import WebhookBatch, WebhookRef, webhook_batch_workflow_id, webhook_workflow_id
from zora.temporal import connect, start_import, start_webhook, start_webhook_batch


async def test_each_start_names_its_workflow_shop_and_summary_and_treats_a_second_start_as_before(
    infra: Any,
) -> None:
    client: Client = await connect(infra.temporal_address, infra.temporal.client.namespace)
    # No worker polls this queue: the runs stay open to be looked at, and are terminated here.
    queue = f"nobody-{uuid.uuid4()}"
    shop = f"starts-{uuid.uuid4().hex[:8]}.myshopify.com"
    ref = WebhookRef(webhook_id=str(uuid.uuid4()), shop=shop, topic="customers/update")
    other = WebhookRef(webhook_id=str(uuid.uuid4()), shop=shop, topic="orders/updated")
    batch = WebhookBatch(refs=[ref, other])
    import_id = f"shopify:import:{shop}"
    expected = {
        webhook_workflow_id(ref.webhook_id): ("ShopifyWebhookWorkflow", f"customers/update for {shop}"),
        webhook_batch_workflow_id(batch.refs): ("ShopifyWebhookBatchWorkflow", f"2 deliveries for {shop}"),
        import_id: ("ShopifyReconcileWorkflow", f"initial import of {shop}"),
    }
    await start_webhook(client, queue, ref)
    await start_webhook_batch(client, queue, batch)
    await start_import(client, queue, shop)
    try:
        for workflow_id, (workflow_type, summary) in expected.items():
            description = await client.get_workflow_handle(workflow_id).describe()
            assert (description.workflow_type, description.task_queue) == (workflow_type, queue), workflow_id
            assert description.typed_search_attributes.get(SA_SHOP) == shop, workflow_id
            assert await description.static_summary() == summary, workflow_id

        # The import again while it runs: the same run, not a second import.
        first = (await client.get_workflow_handle(import_id).describe()).run_id
        await start_import(client, queue, shop)
        assert (await client.get_workflow_handle(import_id).describe()).run_id == first

        # A delivery (or batch) is started once ever, even after its run has closed.
        for workflow_id in list(expected)[:2]:
            await client.get_workflow_handle(workflow_id).terminate("looked at")
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_webhook(client, queue, ref)
        with pytest.raises(WorkflowAlreadyStartedError):
            await start_webhook_batch(client, queue, batch)
    finally:
        for workflow_id in expected:
            # The deliveries' runs are closed already (terminated above).
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(workflow_id).terminate("test over")
