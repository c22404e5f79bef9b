"""Starting ShopifyWebhookWorkflow for stored deliveries, next to the request rather than inside it.

Shopify wants an answer within 5 s and retries (then drops the subscription) when answers are slow;
a workflow start is a round trip to the Temporal server that, under load, costs tens of milliseconds.
So the request commits the inbox row (the delivery is durable from then on), hands it here and answers.
Starts run at once in this process, a few at a time; a sweep restarts any row still `received` after a
grace period (a web process that crashed between its answer and the start, Temporal briefly down).
Starting is idempotent: the workflow id is the webhook id and duplicates are rejected.

The queue is bounded: with Temporal slow or down, starts pile up here, and an unbounded queue would hold
every delivery of the outage in memory. When it is full the route answers 503 before storing (Shopify
retries later); a delivery stored just as the queue filled stays `received` in the inbox, the durable
record, and the sweep starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from zora.db import Pool
from zora.shopify.models import WebhookRef
from zora.store import webhooks as swebhooks
from zora.temporal import start_webhook

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 30.0
# A row younger than this is probably being started right now by the process that stored it.
SWEEP_GRACE_SECONDS = 10.0
DEFAULT_MAX_QUEUED = 1000


async def start_webhook_workflow(temporal: Client, task_queue: str, ref: WebhookRef) -> str:
    """'accepted', 'duplicate' (already started once), or 'unavailable' (Temporal did not take it)."""
    try:
        await start_webhook(temporal, task_queue, ref)
    except WorkflowAlreadyStartedError:
        return "duplicate"
    except Exception:
        log.exception("could not start the workflow for webhook %s (the sweep will retry)", ref.webhook_id)
        return "unavailable"
    return "accepted"


class WorkflowStarter:
    def __init__(
        self,
        pool: Pool,
        temporal: Client,
        task_queue: str,
        *,
        concurrency: int = 16,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.task_queue = task_queue
        self.concurrency = concurrency
        self._queue: asyncio.Queue[WebhookRef] = asyncio.Queue(maxsize=max_queued)
        self._tasks: list[asyncio.Task[None]] = []

    def has_room(self) -> bool:
        return not self._queue.full()

    def submit(self, ref: WebhookRef) -> bool:
        """Queue a stored delivery's start; False when the queue is full (the row waits for the sweep)."""
        try:
            self._queue.put_nowait(ref)
        except asyncio.QueueFull:
            log.warning("workflow starter queue full: webhook %s is left to the sweep", ref.webhook_id)
            return False
        return True

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._starter()) for _ in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._sweeper()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _starter(self) -> None:
        while True:
            ref = await self._queue.get()
            try:
                await start_webhook_workflow(self.temporal, self.task_queue, ref)
            finally:
                self._queue.task_done()

    async def sweep(self, grace_seconds: float = SWEEP_GRACE_SECONDS) -> int:
        """Queue every delivery stored but not yet picked up by its workflow; returns how many."""
        async with self.pool.acquire() as conn:
            rows = await swebhooks.not_started(conn, grace_seconds, 1000)
        for row in rows:
            # Waits for room rather than dropping: the sweep is the path that must not give up.
            await self._queue.put(WebhookRef(webhook_id=row.id, shop=row.shop_domain, topic=row.topic))
        return len(rows)

    async def _sweeper(self) -> None:
        while True:
            try:
                if await self.sweep():
                    log.info("re-queued stored shopify deliveries that had not started")
            except Exception:
                log.exception("shopify webhook sweep failed")
            await asyncio.sleep(SWEEP_EVERY_SECONDS)
