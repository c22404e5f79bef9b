"""Starting ShopifyWebhookWorkflow for stored deliveries, next to the request rather than inside it.

Shopify wants an answer within 5 s and retries (then drops the subscription) when answers are slow;
a workflow start is a round trip to the Temporal server that, under load, costs tens of milliseconds.
So the request commits the inbox row (the delivery is durable from then on), hands it here and answers.
Starts run at once in this process, a few at a time; a sweep restarts any row still `received` after a
grace period (a web process that crashed between its answer and the start, Temporal briefly down).
Starting is idempotent: the workflow id is the webhook id and duplicates are rejected.

Deliveries of one shop that arrive together are started together: what arrives within LINGER_SECONDS
of a first delivery (up to BATCH_MAX) is grouped by shop, and a group of more than one is one
ShopifyWebhookBatchWorkflow instead of a workflow each. A workflow per delivery bounded processing to a
few dozen deliveries a second on the 2-core machine (docs/benchmarks.md, issue 13); a single delivery
still gets its own ShopifyWebhookWorkflow, as before.

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
from zora.shopify.models import WebhookBatch, WebhookRef
from zora.store import webhooks as swebhooks
from zora.temporal import start_webhook, start_webhook_batch

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 30.0
# A row younger than this is probably being started right now by the process that stored it.
SWEEP_GRACE_SECONDS = 10.0
DEFAULT_MAX_QUEUED = 1000
# How long the first delivery waits for others to start with (processing, not the answer, waits).
LINGER_SECONDS = 0.1
BATCH_MAX = 100


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


async def start_webhook_workflows(temporal: Client, task_queue: str, refs: list[WebhookRef]) -> str:
    """One shop's deliveries: alone in its own workflow, or several in one batch workflow."""
    if len(refs) == 1:
        return await start_webhook_workflow(temporal, task_queue, refs[0])
    try:
        await start_webhook_batch(temporal, task_queue, WebhookBatch(refs=refs))
    except WorkflowAlreadyStartedError:
        return "duplicate"
    except Exception:
        log.exception(
            "could not start the workflow for %d webhooks of %s (the sweep will retry)", len(refs), refs[0].shop
        )
        return "unavailable"
    return "accepted"


def by_shop(refs: list[WebhookRef]) -> list[list[WebhookRef]]:
    """Each shop's deliveries in the order they came, each delivery once."""
    groups: dict[str, dict[str, WebhookRef]] = {}
    for ref in refs:
        groups.setdefault(ref.shop, {}).setdefault(ref.webhook_id, ref)
    return [list(group.values()) for group in groups.values()]


class WorkflowStarter:
    def __init__(
        self,
        pool: Pool,
        temporal: Client,
        task_queue: str,
        *,
        concurrency: int = 16,
        max_queued: int = DEFAULT_MAX_QUEUED,
        linger: float = LINGER_SECONDS,
        batch_max: int = BATCH_MAX,
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.task_queue = task_queue
        self.concurrency = concurrency
        self.linger = linger
        self.batch_max = batch_max
        self._queue: asyncio.Queue[WebhookRef] = asyncio.Queue(maxsize=max_queued)
        # One shop's deliveries to start together. Bounded: with every starter busy, the collector
        # waits, the queue above fills, and the route answers 503 (nothing piles up in memory).
        self._groups: asyncio.Queue[list[WebhookRef]] = asyncio.Queue(maxsize=concurrency)
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
        self._tasks.append(asyncio.create_task(self._collector()))
        self._tasks.append(asyncio.create_task(self._sweeper()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _collector(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            refs = [await self._queue.get()]
            until = loop.time() + self.linger
            while len(refs) < self.batch_max:
                try:
                    refs.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    if loop.time() >= until:
                        break
                    await asyncio.sleep(min(0.005, until - loop.time()))
            for group in by_shop(refs):
                await self._groups.put(group)
            for _ in refs:
                self._queue.task_done()

    async def _starter(self) -> None:
        while True:
            group = await self._groups.get()
            await start_webhook_workflows(self.temporal, self.task_queue, group)

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
