"""ConversationWorkflow: the long-lived owner of one conversation's lifecycle.

Signals only append to the inbox; the main loop drains it in arrival order, so a shopper's
messages reach Slack in the order they were sent even when signals land while an activity runs.
The transcript lives in PostgreSQL: this state holds only what the next step needs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from zora.models import (
    SA_STATUS,
    AgentMessage,
    CloseRequest,
    ConversationInput,
    ConversationOutcome,
    ConversationState,
    ConversationStatus,
    LoadConversation,
    PostResult,
    PostToSlack,
    SetStatus,
    ShopperMessage,
    StoreAgentMessages,
    StoredBatch,
    StoreShopperMessages,
)

T = TypeVar("T")

# Local activities: the hot path costs no extra round trips to the Temporal server.
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30)
)


async def _local(name: str, arg: Any, result_type: type[T]) -> T:
    result: T = await workflow.execute_local_activity(
        name, arg, result_type=result_type, start_to_close_timeout=timedelta(seconds=15), retry_policy=_RETRY
    )
    return result


@workflow.defn(name="ConversationWorkflow")
class ConversationWorkflow:
    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self.ref = input.ref
        self.config = input.config
        self.state = input.state or ConversationState()
        self.needs_rehydrate = input.state is None
        self.close_reason: str | None = None
        self._continue_suggested = False

    def _note_suggestion(self) -> None:
        # Sampled whenever a signal lands: activations that only resolve local activities carry
        # the server's suggestion as False, so reading it once after draining would miss it.
        self._continue_suggested |= workflow.info().is_continue_as_new_suggested()

    @workflow.signal
    def shopper_message(self, message: ShopperMessage) -> None:
        self._note_suggestion()
        self.state.inbox.append(message)

    @workflow.signal
    def agent_message(self, message: AgentMessage) -> None:
        self._note_suggestion()
        self.state.inbox.append(message)

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        self.close_reason = request.reason

    @workflow.query
    def snapshot(self) -> ConversationState:
        return self.state

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationOutcome:
        if self.needs_rehydrate:
            loaded: ConversationState = await _local(
                "load_conversation", LoadConversation(ref=self.ref), ConversationState
            )
            # Signals that arrived before the load are already in the inbox: keep them.
            loaded.inbox = self.state.inbox
            self.state = loaded
        if self.state.last_activity is None:
            self.state.last_activity = workflow.now()
        workflow.upsert_search_attributes([SA_STATUS.value_set(self.state.status)])

        while True:
            assert self.state.last_activity is not None
            idle_deadline = self.state.last_activity + timedelta(seconds=self.config.idle_close_seconds)
            remaining = max(timedelta(0), idle_deadline - workflow.now())
            try:
                await workflow.wait_condition(
                    lambda: bool(self.state.inbox) or self.close_reason is not None, timeout=remaining
                )
            except TimeoutError:
                await self._close_in_db()
                if not self.state.inbox:
                    return ConversationOutcome(status="closed", reason="idle")
                # A message arrived while closing: it reopens the conversation in this run.

            self._note_suggestion()
            await self._drain()

            if self.close_reason is not None and not self.state.inbox:
                await self._close_in_db()
                return ConversationOutcome(status="closed", reason=self.close_reason)
            if self._continue_suggested:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(ConversationInput(ref=self.ref, config=self.config, state=self.state))

    async def _drain(self) -> None:
        while self.state.inbox:
            # Take the longest run of items of one kind, so a burst costs one activity per step.
            first = self.state.inbox[0]
            run_len = 1
            while run_len < len(self.state.inbox) and self.state.inbox[run_len].kind == first.kind:
                run_len += 1
            batch: list[Any] = self.state.inbox[:run_len]
            if first.kind == "shopper":
                await self._shopper_batch(batch)
            else:
                await self._agent_batch(batch)
            # Only drop what was handled: a crash before this line replays the batch (activities are idempotent).
            del self.state.inbox[:run_len]
            self.state.last_activity = workflow.now()

    async def _shopper_batch(self, batch: list[ShopperMessage]) -> None:
        stored: StoredBatch = await _local(
            "store_shopper_messages", StoreShopperMessages(ref=self.ref, messages=batch), StoredBatch
        )
        if stored.reopened:
            self._set_status("open")
        seqs = sorted({m.seq for m in stored.new} | set(stored.pending))
        if not seqs:
            return
        # Messages that failed earlier go first, so Slack shows the shopper's words in order.
        to_post = sorted(set(self.state.undelivered) | set(seqs))
        result: PostResult = await _local(
            "post_to_slack", PostToSlack(ref=self.ref, thread=self.state.thread, seqs=to_post), PostResult
        )
        if result.thread is not None:
            self.state.thread = result.thread
        self.state.undelivered = result.undelivered

    async def _agent_batch(self, batch: list[AgentMessage]) -> None:
        await _local("store_agent_messages", StoreAgentMessages(ref=self.ref, messages=batch), StoredBatch)

    def _set_status(self, status: ConversationStatus) -> None:
        self.state.status = status
        workflow.upsert_search_attributes([SA_STATUS.value_set(status)])

    async def _close_in_db(self) -> None:
        await _local("set_conversation_status", SetStatus(ref=self.ref, status="closed"), type(None))
        self._set_status("closed")
