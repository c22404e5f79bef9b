"""ConversationWorkflow: the durable owner of one conversation's lifecycle.

Messages do not pass through this workflow one by one: the web process stores them in PostgreSQL
and relays them to Slack itself (zora/app/relay.py), because a signal and a workflow task per message
cost far more than the whole fast path (docs/benchmarks.md). The workflow is started with the
conversation and is told about what needs durability: deliveries the fast path could not make
(posted here with Temporal's retries), and closing. Its timer closes an idle conversation; it
reads the time of the last message from PostgreSQL when the timer fires, so messages never need
to wake it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.calls import (
        APPLY_ASSIGNMENT,
        COPY_AGENT_FILES,
        EMAIL_TRANSCRIPT,
        LOAD_CONVERSATION,
        PICK_AGENT,
        POST_TO_SLACK,
        SLACK_RETRY,
        TICK,
    )
    from zora.workflow_api import ConversationApi
from workflows.conversation_assistant import ASKED_FOR_PERSON, AssistantHold
from zora.assistant_turns import DraftDecided, DraftDecision, PersonAsked, ShopperWrote
from zora.models import (
    SA_STATUS,
    AgentAction,
    ApplyAssignment,
    Assignment,
    CloseRequest,
    ConversationInput,
    ConversationOutcome,
    ConversationState,
    ConversationStatus,
    CopyAgentFiles,
    EmailTranscript,
    FilesShared,
    LoadConversation,
    Opened,
    PickAgent,
    PostPendingToSlack,
    PostResult,
    PostToSlack,
    SettingsChanged,
    Tick,
)

# Since this patch the resolve transcript is emailed beside the main loop, with bounded retries (a
# dead mail server must not hold up deliveries, deadlines or closing). Runs started before it
# replay their in-loop email unchanged.
_TRANSCRIPT_BESIDE_LOOP = "transcript-beside-loop"
# Since this patch an opening waits for the deliveries signalled before it: an automatic
# assignment's note goes into the thread, which the first post creates.
_ASSIGN_AFTER_POST = "assign-after-post"
# Since this patch the buttons' updates wait, like the signals, for a fresh run to load the status
# from PostgreSQL, and check again after it: a validator that ran before the load saw a blank state
# (a claim on a conversation another agent holds passed, and took it from them).
_UPDATES_AFTER_LOAD = "updates-after-load"

# Runs started before the transcript moved beside the loop replay its email with these options.
_LEGACY_EMAIL_TRANSCRIPT = dataclasses.replace(EMAIL_TRANSCRIPT, retry_policy=SLACK_RETRY)


@workflow.defn(name="ConversationWorkflow")
class ConversationWorkflow(ConversationApi):
    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self.ref = input.ref
        self.config = input.config
        self.state = input.state or ConversationState()
        self.needs_load = input.state is None
        self.close_reason: str | None = None
        self._continue_suggested = False
        # Status changes are written (PostgreSQL, then the Slack card) one at a time, in order.
        self._apply_lock = asyncio.Lock()
        # Handlers that read the status wait for a fresh run to load it from PostgreSQL.
        self._loaded = not self.needs_load
        self._copying = False
        # The transcript email under way beside the loop, and whether another resolve asked again.
        self._emailing = False
        self._transcript_again = False
        self._mail_tasks: set[asyncio.Task[None]] = set()
        # The assistant (issue 12): its turns run beside the main loop.
        self.assistant = AssistantHold(self.ref, self.state, self._auto_assign)

    def _note_suggestion(self) -> None:
        # Sampled whenever a signal lands: activations that only resolve activities carry the
        # server's suggestion as False, so reading it once after the work would miss it.
        self._continue_suggested |= workflow.info().is_continue_as_new_suggested()

    @workflow.signal
    async def opened(self, signal: Opened) -> None:
        """The conversation's first message, or a shopper writing again after it was resolved."""
        self._note_suggestion()
        await workflow.wait_condition(lambda: self._loaded)
        if self.state.status in ("resolved", "closed"):
            await self._change("open", None)
        if workflow.patched(_ASSIGN_AFTER_POST):
            await workflow.wait_condition(lambda: not self.state.deliveries)
        await self._auto_assign()

    async def _auto_assign(self, skip: str | None = None) -> None:
        # While the assistant weighs a shopper message, or holds the conversation, assignment waits
        # (its handover assigns). Neither happens in a conversation the assistant never saw.
        if self.assistant.gating:
            await workflow.wait_condition(lambda: not self.assistant.gating)
        if self.assistant.holds():
            return
        if not self.state.auto_assign or self.state.status != "open" or self.state.assignee is not None:
            return
        pick = await PICK_AGENT.run(PickAgent(ref=self.ref, skip=skip))
        # Someone may have claimed it while the pick ran.
        if pick.user_id and self.state.status == "open" and self.state.assignee is None:
            await self._change("assigned", pick.user_id, auto=True)

    @workflow.signal
    async def agent_replied(self, action: AgentAction) -> None:
        """The first agent who replies in an unassigned thread takes it."""
        self._note_suggestion()
        await workflow.wait_condition(lambda: self._loaded)
        if self.state.status == "open" and self.state.assignee is None:
            await self._change("assigned", action.user_id, assistant_off=self.assistant.taken())

    async def _loaded_then(self, check: Callable[[], None]) -> None:
        """Wait for a fresh run's load, then check the update against the loaded state."""
        if workflow.patched(_UPDATES_AFTER_LOAD):
            await workflow.wait_condition(lambda: self._loaded)
        check()

    @workflow.update
    async def assign(self, action: AgentAction) -> Assignment:
        # Checked again here: two claims can pass their validators in the same workflow task, and
        # only the first handler to run (no await between the check and _change setting the
        # assignee) may win.
        await self._loaded_then(lambda: self._check_claimable(action))
        return await self._change("assigned", action.user_id, assistant_off=self.assistant.taken())

    @assign.validator
    def _validate_assign(self, action: AgentAction) -> None:
        self._check_claimable(action)

    def _check_claimable(self, action: AgentAction) -> None:
        if self.state.status in ("resolved", "closed"):
            raise ApplicationError(f"This conversation is {self.state.status}; reopen it first.", type="NotOpen")
        if self.state.assignee is not None and self.state.assignee != action.user_id:
            raise ApplicationError(f"Already claimed by <@{self.state.assignee}>.", type="AlreadyClaimed")

    @workflow.update
    async def release(self, action: AgentAction) -> Assignment:
        await self._loaded_then(lambda: self._validate_release(action))
        return await self._change("open", None)

    @release.validator
    def _validate_release(self, action: AgentAction) -> None:
        if self.state.status != "assigned":
            raise ApplicationError("Nobody has claimed this conversation.", type="NotAssigned")

    @workflow.update
    async def resolve(self, action: AgentAction) -> Assignment:
        await self._loaded_then(lambda: self._validate_resolve(action))
        self.assistant.resolved()
        result = await self._change("resolved", self.state.assignee or action.user_id)
        if self.state.transcript_on_resolve:
            # Started by the main loop: the agent's answer does not wait for email.
            self.state.transcript_due = True
        return result

    @resolve.validator
    def _validate_resolve(self, action: AgentAction) -> None:
        if self.state.status in ("resolved", "closed"):
            raise ApplicationError(f"This conversation is already {self.state.status}.", type="NotOpen")

    @workflow.update
    async def reopen(self, action: AgentAction) -> Assignment:
        await self._loaded_then(lambda: self._validate_reopen(action))
        return await self._change("open", None)

    @reopen.validator
    def _validate_reopen(self, action: AgentAction) -> None:
        if self.state.status not in ("resolved", "closed"):
            raise ApplicationError("This conversation is already open.", type="AlreadyOpen")

    async def _change(
        self,
        status: ConversationStatus,
        assignee: str | None,
        *,
        auto: bool = False,
        note: str | None = None,
        assistant_off: bool = False,
    ) -> Assignment:
        self.state.assignee = assignee
        self._set_status(status)
        async with self._apply_lock:
            await APPLY_ASSIGNMENT.run(
                ApplyAssignment(
                    ref=self.ref,
                    status=self.state.status,
                    assignee=self.state.assignee,
                    auto=auto,
                    note=note,
                    assistant_off=assistant_off,
                )
            )
        return Assignment(status=status, assignee=assignee)

    @workflow.signal(name="deliver")
    def post_pending(self, request: PostPendingToSlack) -> None:
        self._note_suggestion()
        self.state.deliveries.append(request)

    @workflow.signal
    async def files_shared(self, shared: FilesShared) -> None:
        """Copy the agents' new files for the shopper, beside the main loop: a slow or failing copy
        (Slack's file host down: minutes of retries) never holds up deliveries, ticks or closing."""
        self._note_suggestion()
        self.state.files_due = True
        if self._copying:
            return  # the running copy goes round again: it copies every pending file
        self._copying = True
        try:
            while self.state.files_due:
                self.state.files_due = False
                try:
                    await COPY_AGENT_FILES.run(CopyAgentFiles(ref=self.ref))
                except ActivityError:
                    workflow.logger.warning("agent files could not be copied; the sweep hands them back later")
        finally:
            self._copying = False

    @workflow.signal
    async def settings_changed(self, change: SettingsChanged) -> None:
        """The merchant saved the shop's settings: the choices this run carries take effect now."""
        self._note_suggestion()
        await workflow.wait_condition(lambda: self._loaded)
        self._take_choices(change.auto_assign, change.transcript_on_resolve)
        await self.assistant.settings_changed()
        await self._auto_assign()

    def _take_choices(self, auto_assign: bool | None, transcript_on_resolve: bool | None) -> None:
        if auto_assign is not None:
            self.state.auto_assign = auto_assign
        if transcript_on_resolve is not None:
            self.state.transcript_on_resolve = transcript_on_resolve

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        self.close_reason = request.reason

    @workflow.query
    def snapshot(self) -> ConversationState:
        return self.state

    @workflow.signal
    async def shopper_wrote(self, wrote: ShopperWrote) -> None:
        self._note_suggestion()
        await workflow.wait_condition(lambda: self._loaded)
        self.assistant.wrote(wrote.seq)

    @workflow.signal
    async def ask_for_person(self, asked: PersonAsked) -> None:
        self._note_suggestion()
        await workflow.wait_condition(lambda: self._loaded)
        reason = ASKED_FOR_PERSON + (f": {asked.reason}" if asked.reason.strip() else "")
        await self.assistant.hand_over(reason)

    @workflow.update
    async def take_over(self, action: AgentAction) -> Assignment:
        """An agent takes the conversation from the assistant (the card's Take over)."""
        await self._loaded_then(lambda: self._check_claimable(action))
        return await self._change("assigned", action.user_id, assistant_off=self.assistant.taken())

    @take_over.validator
    def _validate_take_over(self, action: AgentAction) -> None:
        self._check_claimable(action)

    @workflow.update
    async def decide_draft(self, decision: DraftDecision) -> DraftDecided:
        await self._loaded_then(lambda: self.assistant.check_draft(decision))
        return await self.assistant.decide(decision)

    @decide_draft.validator
    def _validate_decide_draft(self, decision: DraftDecision) -> None:
        self.assistant.check_draft(decision)

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationOutcome:
        if self.needs_load:
            await self._load()
        self._set_status(self.state.status)
        # A turn that was due when the previous run continued as new.
        self.assistant.start()
        wake_at = workflow.now()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: bool(self.state.deliveries) or self.state.transcript_due or self.close_reason is not None,
                    timeout=max(timedelta(0), wake_at - workflow.now()),
                )
            except TimeoutError:
                tick = await TICK.run(Tick(ref=self.ref, idle_seconds=self.config.idle_close_seconds))
                # A settings change whose signal was lost still arrives (no new command: replays unchanged).
                self._take_choices(tick.auto_assign, tick.transcript_on_resolve)
                if tick.closed and not self.state.deliveries:
                    self.assistant.stop()
                    await self._change("closed", self.state.assignee)
                    await workflow.wait_condition(self._side_work_done)
                    return ConversationOutcome(status="closed", reason="idle")
                gone = tick.unanswered_assignee
                if gone is not None and gone == self.state.assignee and self.state.status == "assigned":
                    await self._change("open", None, note=f"<@{gone}> did not answer in time; unassigned.")
                    await self._auto_assign(skip=gone)
                wake_at = max(tick.next_wake, workflow.now() + timedelta(milliseconds=200))
                continue

            if self.state.transcript_due:
                if workflow.patched(_TRANSCRIPT_BESIDE_LOOP):
                    self.state.transcript_due = False
                    self._email_transcript()
                else:
                    await _LEGACY_EMAIL_TRANSCRIPT.run(EmailTranscript(ref=self.ref))
                    self.state.transcript_due = False
            if self.state.deliveries:
                taken = len(self.state.deliveries)
                await self._post_pending()
                del self.state.deliveries[:taken]

            if self.close_reason is not None and not self.state.deliveries:
                self.assistant.stop()
                await self._change("closed", self.state.assignee)
                # A file copy under way finishes first (the shopper's widget waits for it), and so
                # does a transcript email (its retries are bounded).
                await workflow.wait_condition(self._side_work_done)
                return ConversationOutcome(status="closed", reason=self.close_reason)
            # Not while a transcript email is under way (it would be cut off): the loop goes on
            # delivering, and continues as new on a later round.
            if self._continue_suggested and not self._emailing and not self.assistant.busy():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.state.deliveries:
                    continue
                workflow.continue_as_new(ConversationInput(ref=self.ref, config=self.config, state=self.state))

    async def _load(self) -> None:
        """A fresh run (first message, or after a close): status and assignee live in PostgreSQL."""
        loaded = await LOAD_CONVERSATION.run(LoadConversation(ref=self.ref))
        self.state.status, self.state.assignee = loaded.status, loaded.assignee
        self.state.auto_assign = loaded.auto_assign
        self.state.transcript_on_resolve = loaded.transcript_on_resolve
        self.state.assistant_off = loaded.assistant_off
        self._loaded = True

    def _side_work_done(self) -> bool:
        return not self._copying and not self._emailing and not self.assistant.busy()

    def _email_transcript(self) -> None:
        """Email the transcript in a task of its own; a second resolve while it runs sends again after it."""
        self._transcript_again = True
        if self._emailing:
            return
        self._emailing = True
        task = asyncio.create_task(self._send_transcripts())
        self._mail_tasks.add(task)
        task.add_done_callback(self._mail_tasks.discard)

    async def _send_transcripts(self) -> None:
        try:
            while self._transcript_again:
                self._transcript_again = False
                try:
                    await EMAIL_TRANSCRIPT.run(EmailTranscript(ref=self.ref))
                except ActivityError as exc:
                    # Refused for good, or given up after the mail retry policy's attempts; the activity
                    # recorded why (conversations.transcript_error).
                    workflow.logger.warning("transcript not emailed: %s", exc.cause or exc)
        finally:
            self._emailing = False

    async def _post_pending(self) -> None:
        wait = max(d.retry_after_seconds for d in self.state.deliveries)
        if wait > 0:
            await workflow.sleep(timedelta(seconds=wait))
        result: PostResult = await POST_TO_SLACK.run(PostToSlack(ref=self.ref))
        if result.error:
            workflow.logger.warning("Slack refused delivery: %s; messages stay stored", result.error)

    def _set_status(self, status: ConversationStatus) -> None:
        self.state.status = status
        workflow.upsert_search_attributes([SA_STATUS.value_set(status)])
