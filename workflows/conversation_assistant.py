"""The assistant's side of ConversationWorkflow (issue 12 §2 §6): when it holds a conversation, one
AssistantTurnWorkflow per shopper message, and people taking it back.

The web process signals `shopper_wrote(seq)` only for shops whose assistant is on. The assistant holds a
conversation that nobody is assigned to when the shop's mode says so (always first; draft only; outside
business hours; no agent available: the shop is marked away, or automatic assignment found nobody, or
the shop does not assign automatically). While it holds, automatic assignment waits. Each message gets a
child turn `turn:{conversation}:{seq}`; a newer message cancels the running one and the newest is
answered. A person taking over (Take over, Claim, a reply in the thread), the shopper asking for a
person, or the assistant itself (hand_over, a failed turn, no answer within its steps, the daily budget
spent) turns it off for the conversation for good: then a note in the thread and normal assignment.
So does the shop: a settings save or business hours starting after which its assistant would not take
this conversation now. Resolving the conversation ends the hold, not for good.

Everything here is reached only through the assistant's own signals and updates, or while it holds a
conversation, so histories recorded before it (tests/workflows/histories) replay unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.calls import (
        ASSISTANT_DELIVER_CALL,
        ASSISTANT_DISCARD_DRAFT_CALL,
        ASSISTANT_GATE_CALL,
        ASSISTANT_HAND_OVER_CALL,
        ASSISTANT_POST_DRAFT_CALL,
        ASSISTANT_RECORD_TURN_CALL,
        ASSISTANT_SET_STATE_CALL,
    )
    from workflows.assistant import AssistantTurnWorkflow
from zora.assistant import TurnInput, TurnResult, turn_workflow_id
from zora.assistant_turns import (
    AssistantState,
    AssistantStateChange,
    DeliverAnswer,
    DiscardDraft,
    DraftDecided,
    DraftDecision,
    GateRequest,
    GateResult,
    HandOver,
    PostDraft,
    RecordTurn,
)
from zora.models import SA_SHOP, ConversationRef, ConversationState

ASKED_FOR_PERSON = "the shopper asked for a person"
# Since this patch a handover waits for the card's "assistant answering" update still under way.
_HANDOVER_AFTER_CARD = "handover-after-card"
# Since this patch the hold ends when the shop's settings or business hours say the assistant would not
# take it now (a handover), and when the conversation is resolved (no handover).
_HOLD_FOLLOWS_SHOP = "assistant-hold-follows-shop"
# Modes whose answer depends on business hours: a hold taken outside them is weighed again when they start.
_HOURS_MODES = ("outside_hours", "no_agent_available")


class AssistantHold:
    """One run's assistant: the turn under way, and the task that starts turns one after another."""

    def __init__(
        self, ref: ConversationRef, state: ConversationState, auto_assign: Callable[[], Awaitable[None]]
    ) -> None:
        self.ref = ref
        self.state = state
        self.auto_assign = auto_assign
        self.turn: workflow.ChildWorkflowHandle[AssistantTurnWorkflow, TurnResult] | None = None
        # True from a shopper message until it is known whether the assistant holds the conversation:
        # an automatic assignment of the same moment waits for that.
        self.gating = False
        self.running = False
        self._tasks: set[asyncio.Task[None]] = set()
        # The card's update to "assistant answering" under way: a handover's card waits for it.
        self._showing: set[asyncio.Task[None]] = set()
        # Waits for the shop's business hours to start while the assistant holds the conversation
        # outside them; not counted as busy while it sleeps (continue-as-new and closing go on).
        self._hours: asyncio.Task[None] | None = None
        self._weighing = False
        self._stopped = False
        # The first start() of a run: a hold carried over by continue-as-new is weighed again.
        self._resumed = False

    def holds(self) -> bool:
        return self.state.assistant is not None and not self.state.assistant_off

    def wrote(self, seq: int) -> None:
        """A shopper message (signal shopper_wrote): answer the newest, cancelling an older turn."""
        state = self.state
        if state.assistant_off or seq <= max(state.last_turn_seq, state.turn_due or 0):
            return  # a person has it, or a repeated signal
        state.turn_due = seq
        # The shopper wrote again: a draft waiting for an agent answers what came before.
        state.draft_turn = None
        self._cancel_turn()
        self.start()

    def start(self) -> None:
        if not self._resumed:
            self._resumed = True
            if self.holds() and workflow.patched(_HOLD_FOLLOWS_SHOP):
                # The previous run's wait for business hours did not come along.
                self._beside(self._reweigh())
        if self.running or self.state.turn_due is None:
            return
        self.running = True
        self.gating = self.state.assistant is None
        task = asyncio.create_task(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_turn(self) -> None:
        if self.turn is not None:
            self.turn.cancel()

    def taken(self) -> bool:
        """A person takes the conversation: True when the assistant had it (it is now off for good)."""
        state = self.state
        if state.assistant is None and state.turn_due is None and self.turn is None:
            return False
        state.assistant, state.assistant_off, state.turn_due, state.draft_turn = None, True, None, None
        self._cancel_turn()
        return True

    async def _run(self) -> None:
        try:
            while self.state.turn_due is not None and not self.state.assistant_off:
                seq, self.state.turn_due = self.state.turn_due, None
                gate = await ASSISTANT_GATE_CALL.run(GateRequest(ref=self.ref))
                if self.state.assistant is None and not await self._take_hold(gate):
                    continue
                self.gating = False
                if self.state.turn_due is not None or self.state.assistant_off:
                    continue  # a newer message (or a person) came while this one was weighed
                result = await self._turn(seq, gate)
                if result is not None:
                    await self._after(seq, result)
        finally:
            self.gating = False
            self.running = False

    async def _take_hold(self, gate: GateResult) -> bool:
        state = self.state
        if not gate.enabled or (state.assignee is not None and not self._reopening()):
            return False
        if gate.mode == "outside_hours" and gate.in_hours:
            return False
        if gate.mode == "no_agent_available" and gate.available and gate.in_hours and not state.auto_assign:
            # The team is there and answers in Slack; without automatic assignment nobody is "not available".
            return False
        if gate.mode == "no_agent_available" and gate.available and state.auto_assign:
            # An agent who can take it comes first.
            self.gating = False
            await self.auto_assign()
            if state.assignee is not None or state.assistant_off:
                return False
        holding: AssistantState = "drafting" if gate.mode == "draft_only" else "answering"
        state.assistant = holding
        self.gating = False
        # Beside the turn: the card may wait for its thread (the shopper's first message creates it),
        # the shopper's answer must not.
        task = self._beside(self._show(holding))
        self._showing.add(task)
        task.add_done_callback(self._showing.discard)
        self._watch_hours(gate)
        return True

    def _beside(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _reopening(self) -> bool:
        """A message to a resolved conversation reopens it unassigned (signal `opened`, which may come
        after this one): the agent who resolved it is not its assignee any more."""
        return self.state.status == "resolved" and workflow.patched(_HOLD_FOLLOWS_SHOP)

    async def _show(self, state: AssistantState | None) -> None:
        try:
            await ASSISTANT_SET_STATE_CALL.run(AssistantStateChange(ref=self.ref, state=state))
        except ActivityError as exc:
            workflow.logger.warning("the card could not show the assistant: %s", exc.cause or exc)

    def busy(self) -> bool:
        """A turn, or the card's update, is under way: the run neither closes nor continues as new."""
        return self.running or bool(self._tasks) or self._weighing

    async def _turn(self, seq: int, gate: GateResult) -> TurnResult | None:
        """The child turn for message `seq`; None when it was cancelled."""
        turn_id = turn_workflow_id(self.ref.conversation_id, seq)
        self.state.last_turn_seq = seq
        started = workflow.now()
        result: TurnResult | None
        try:
            self.turn = await workflow.start_child_workflow(
                AssistantTurnWorkflow.run,
                TurnInput(
                    shop=self.ref.shop,
                    shop_id=self.ref.shop_id,
                    conversation_id=self.ref.conversation_id,
                    seq=seq,
                    stream=self.state.assistant == "answering",
                    llm_timeout_seconds=gate.llm_timeout_seconds,
                ),
                id=turn_id,
                search_attributes=TypedSearchAttributes([SearchAttributePair(SA_SHOP, self.ref.shop)]),
                static_summary=f"assistant turn for message {seq} of {self.ref.shop}",
            )
            if self.state.turn_due is not None or self.state.assistant_off:
                self.turn.cancel()  # overtaken while it started
            result = await self.turn
        except ChildWorkflowError as exc:
            result = None if isinstance(exc.cause, CancelledError) else _failed(exc)
        finally:
            self.turn = None
        await self._record(turn_id, seq, started, result)
        return result

    async def _record(self, turn_id: str, seq: int, started: datetime, result: TurnResult | None) -> None:
        await ASSISTANT_RECORD_TURN_CALL.run(
            RecordTurn(ref=self.ref, turn_id=turn_id, seq=seq, started_at=started, result=result)
        )

    async def _after(self, seq: int, result: TurnResult) -> None:
        if self.state.assistant_off:
            return  # a person took it while the turn ran: nothing of it goes out
        if result.outcome != "answered":
            await self.hand_over(result.reason or result.outcome, tell_shopper=True)
            return
        turn_id = turn_workflow_id(self.ref.conversation_id, seq)
        if self.state.assistant == "drafting":
            # Current from now (its buttons exist only once it is posted); a newer message clears it.
            self.state.draft_turn = turn_id
            await ASSISTANT_POST_DRAFT_CALL.run(PostDraft(ref=self.ref, turn_id=turn_id))
        else:
            await ASSISTANT_DELIVER_CALL.run(DeliverAnswer(ref=self.ref, turn_id=turn_id))

    async def hand_over(self, reason: str, *, tell_shopper: bool = False) -> None:
        """The assistant lets go for good: a note for the team, then normal assignment. `tell_shopper`:
        the shopper did not ask with the widget's button (which says a person will join by itself), so
        the assistant says it, when it was answering them (a draft_only assistant never spoke to them)."""
        if self.state.assistant_off:
            return
        tell_shopper = tell_shopper and self.state.assistant == "answering"
        self.taken()
        self.state.assistant_off = True
        seq = self.state.last_turn_seq
        turn_id = turn_workflow_id(self.ref.conversation_id, seq) if seq else None
        if workflow.patched(_HANDOVER_AFTER_CARD) and self._showing:
            # Both redraw the card from PostgreSQL: the "answering" update must land before the
            # handover's, or the card keeps offering Take over for an assistant that let go.
            await workflow.wait_condition(lambda: not self._showing)
        try:
            await ASSISTANT_HAND_OVER_CALL.run(
                HandOver(ref=self.ref, reason=reason, turn_id=turn_id, tell_shopper=tell_shopper)
            )
        except ActivityError as exc:
            # No thread after the retries (Slack down, the shop disconnected): assignment still follows.
            workflow.logger.warning("the handover note was not posted: %s", exc.cause or exc)
        await self.auto_assign()

    async def settings_changed(self) -> None:
        """The merchant saved the shop's settings: an assistant turned off, or set to a mode that would
        not take this conversation now, lets go of what it holds."""
        if not self.holds():
            return
        gate = await ASSISTANT_GATE_CALL.run(GateRequest(ref=self.ref))
        if not gate.enabled:
            await self.hand_over("the shop turned its assistant off", tell_shopper=True)
        elif workflow.patched(_HOLD_FOLLOWS_SHOP):
            await self._weigh(gate)

    def _lets_go(self, gate: GateResult) -> str | None:
        """Why the shop's assistant as set now would not hold this conversation as it does (as _take_hold
        weighs a new one; with automatic assignment, no_agent_available keeps a hold that assignment
        found nobody for), or None."""
        if not gate.enabled:
            return "the shop turned its assistant off"
        if ("drafting" if gate.mode == "draft_only" else "answering") != self.state.assistant:
            return f"the shop set its assistant's mode to {gate.mode}"
        if gate.mode == "outside_hours" and gate.in_hours:
            return "the shop is open, and its assistant answers only outside business hours"
        if gate.mode == "no_agent_available" and gate.available and gate.in_hours and not self.state.auto_assign:
            return "the shop's team is available"
        return None

    async def _weigh(self, gate: GateResult) -> None:
        reason = self._lets_go(gate)
        if reason is not None:
            await self.hand_over(reason, tell_shopper=True)
        else:
            self._watch_hours(gate)

    async def _reweigh(self) -> None:
        if self.holds():
            await self._weigh(await ASSISTANT_GATE_CALL.run(GateRequest(ref=self.ref)))

    def _watch_hours(self, gate: GateResult) -> None:
        """Outside business hours, in a mode that depends on them: weigh the hold again when they start."""
        if self._hours is not None:
            self._hours.cancel()
        self._hours = None
        if gate.mode in _HOURS_MODES and gate.opens_at is not None and workflow.patched(_HOLD_FOLLOWS_SHOP):
            self._hours = asyncio.create_task(self._until_open(gate.opens_at))

    async def _until_open(self, opens_at: datetime) -> None:
        try:
            await workflow.wait_condition(
                lambda: not self.holds() or self._stopped, timeout=max(timedelta(0), opens_at - workflow.now())
            )
            return  # the hold ended before
        except TimeoutError:
            pass
        # Awake: a new wait (the hours moved) is another task; this one must not be cancelled by it.
        self._hours = None
        self._weighing = True
        try:
            await self._reweigh()
        finally:
            self._weighing = False

    def resolved(self) -> None:
        """The conversation is resolved: the hold ends, not for good (a shopper who writes again is weighed
        afresh), and the turn under way with it; no note (a person resolved it)."""
        state = self.state
        if state.assistant is None and state.turn_due is None and self.turn is None:
            return
        if not workflow.patched(_HOLD_FOLLOWS_SHOP):
            return
        state.assistant, state.turn_due, state.draft_turn = None, None, None
        self._cancel_turn()
        self._beside(self._show_ended())

    async def _show_ended(self) -> None:
        # After the card's "answering" still under way, or that one would land last.
        await workflow.wait_condition(lambda: not self._showing)
        await self._show(None)

    def check_draft(self, decision: DraftDecision) -> None:
        if self.state.draft_turn is None or self.state.draft_turn != decision.turn_id:
            raise ApplicationError("This draft is no longer waiting for a decision.", type="StaleDraft")

    async def decide(self, decision: DraftDecision) -> DraftDecided:
        self.state.draft_turn = None
        if decision.send:
            await ASSISTANT_DELIVER_CALL.run(
                DeliverAnswer(ref=self.ref, turn_id=decision.turn_id, approved_by=decision.user_id)
            )
        else:
            await ASSISTANT_DISCARD_DRAFT_CALL.run(
                DiscardDraft(ref=self.ref, turn_id=decision.turn_id, user_id=decision.user_id)
            )
        return DraftDecided(turn_id=decision.turn_id, sent=decision.send)

    def stop(self) -> None:
        """The conversation closes: no turn goes on."""
        self.state.turn_due = None
        self._stopped = True
        self._cancel_turn()


def _failed(exc: ChildWorkflowError) -> TurnResult:
    return TurnResult(outcome="failed", reason=f"the turn failed: {exc.cause or exc}", steps=0)
