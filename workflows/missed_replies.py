"""MissedRepliesWorkflow (registered as `OutboundDeliveryWorkflow`, `deliver:{conversation}`, names running
workflows use): replies a shopper missed, then one email.

Agent replies live in PostgreSQL; a shopper who comes back gets them from `resume` (by seq). This
workflow only exists while some reply may be unseen: it waits `email_after_seconds` after the last
reply it heard of (a later reply starts a new wait), then asks the `email_unseen_replies` activity
to email whatever is still unseen. That activity claims the seq range in PostgreSQL before sending,
so the same messages never go out twice, however often it is retried or the workflow restarted.
It finishes when nothing is pending, so its history stays small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.calls import EMAIL_UNSEEN_REPLIES
    from zora.workflow_api import MissedRepliesApi
from zora.models import DigestRequest, DigestResult, MissedRepliesInput, MissedRepliesOutcome, PendingReplies


@workflow.defn(name="OutboundDeliveryWorkflow")
class MissedRepliesWorkflow(MissedRepliesApi):
    @workflow.init
    def __init__(self, input: MissedRepliesInput) -> None:
        self.upto = input.upto_seq
        self.emails_sent = input.emails_sent
        self._news = False

    @workflow.signal
    def pending(self, signal: PendingReplies) -> None:
        if signal.upto_seq > self.upto:
            self.upto = signal.upto_seq
        self._news = True

    @workflow.query
    def upto_seq(self) -> int:
        return self.upto

    @workflow.run
    async def run(self, input: MissedRepliesInput) -> MissedRepliesOutcome:
        wait = timedelta(seconds=input.config.email_after_seconds)
        while True:
            self._news = False
            try:
                await workflow.wait_condition(lambda: self._news, timeout=wait)
                # A later reply: the wait starts again from it.
                if workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(
                        MissedRepliesInput(
                            ref=input.ref, config=input.config, upto_seq=self.upto, emails_sent=self.emails_sent
                        )
                    )
                continue
            except TimeoutError:
                pass
            try:
                digest = await EMAIL_UNSEEN_REPLIES.run(DigestRequest(ref=input.ref, upto_seq=self.upto))
            except ActivityError as exc:
                # Recorded by the activity (email_digests.status = 'failed'); the replies stay
                # in the conversation for the shopper's next visit.
                workflow.logger.warning("unseen replies not emailed: %s", exc.cause or exc)
                digest = DigestResult(result="mail_failed")
            if digest.result == "emailed":
                self.emails_sent += 1
            if not self._news:
                return MissedRepliesOutcome(result=digest.result, emails_sent=self.emails_sent)
