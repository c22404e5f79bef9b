"""Emails to shoppers: the replies a shopper missed (MissedRepliesWorkflow), and the transcript on resolve."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import EMAIL_TRANSCRIPT, EMAIL_UNSEEN_REPLIES
from zora import transcript
from zora.addresses import InvalidAddress
from zora.db import Conn, Pool
from zora.identity import issue_code
from zora.logs import conversation_id_var
from zora.mail import Mailer, MailError, digest_email, digest_message_id, transcript_email
from zora.models import DigestRequest, DigestResult, EmailTranscript
from zora.settings import Settings
from zora.shopper_language import shopper_words
from zora.store import conversations as sconversations
from zora.store import messages as smessages
from zora.store import receipts as sreceipts

log = logging.getLogger(__name__)


def _final(exc: MailError | InvalidAddress) -> tuple[bool, str]:
    """Whether this failure ends the email (refused for good, or the caller's last attempt), and why.

    Temporal retries a transient failure within the RetryPolicy the workflow set; on its last
    attempt the activity records the outcome itself, since nothing runs after it."""
    if isinstance(exc, InvalidAddress):
        return True, f"refused: the address {exc}"
    if exc.permanent:
        return True, f"refused: {exc}"
    info = activity.info()
    limit = info.retry_policy.maximum_attempts if info.retry_policy else 0
    if limit and info.attempt >= limit:
        return True, f"gave up after {info.attempt} attempts: {exc}"
    return False, str(exc)


class EmailActivities:
    def __init__(self, pool: Pool, mailer: Mailer, settings: Settings) -> None:
        self.pool = pool
        self.mailer = mailer
        self.settings = settings

    def all(self) -> list[Any]:
        return [self.email_unseen_replies, self.email_transcript]

    @EMAIL_TRANSCRIPT.defn
    async def email_transcript(self, req: EmailTranscript) -> bool:
        """The whole conversation to the shopper, on resolve; once per state of the transcript."""
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        if not self.mailer.enabled:
            log.info("transcript not emailed: no SMTP server configured")
            return False
        async with self.pool.acquire() as conn:
            state = await sconversations.transcript_state(conn, ref)
            if state is None or not state.email or state.last_seq <= state.sent_upto:
                return False  # nobody to send to, or this transcript went out already
            messages = await transcript.with_files(conn, ref.conversation_id, await smessages.all_of(conn, ref))
            w = await shopper_words(conn, ref.shop_id, ref.shopper_id, ref.conversation_id)
        domain = urlsplit(self.settings.public_url or "http://zora.invalid").hostname or "zora.invalid"
        try:
            email = transcript_email(
                shop_name=state.shop_name,
                to_address=state.email,
                to_name=state.shopper_name,
                messages=messages,
                files_base=self.settings.public_url,
                # The same transcript retried is the same email (mail clients fold it).
                message_id=f"<zora-transcript.{ref.conversation_id}.{state.last_seq}@{domain}>",
                w=w,
            )
            await self.mailer.send(email)
        except (MailError, InvalidAddress) as exc:
            final, why = _final(exc)
            if not final:
                raise ApplicationError(f"transcript not emailed yet: {why}", type="MailUnavailable") from exc
            log.warning("transcript not emailed, %s", why)
            await sconversations.transcript_failed(self.pool, ref, f"seq {state.last_seq}: {why}"[:500])
            raise ApplicationError(f"transcript not emailed, {why}", type="MailFailed", non_retryable=True) from exc
        await sconversations.transcript_sent(self.pool, ref, state.last_seq)
        return True

    async def link(self, conn: Conn, req: DigestRequest) -> str:
        """A link with a single-use code (never a token: URLs end up in histories, logs and forwarded
        emails); the widget exchanges it once at /widget/session for this conversation's token."""
        ref = req.ref
        code = await issue_code(
            conn,
            purpose="link",
            shop_id=ref.shop_id,
            shopper_id=ref.shopper_id,
            conversation_id=ref.conversation_id,
            ttl_seconds=int(self.settings.email_code_ttl_hours * 3600),
        )
        base = self.settings.widget_link_url.replace("{shop}", ref.shop)
        return f"{base.split('#', 1)[0]}#zora-code={code}"

    @EMAIL_UNSEEN_REPLIES.defn
    async def email_unseen_replies(self, req: DigestRequest) -> DigestResult:
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        if not self.mailer.enabled:
            log.info("unseen replies not emailed: no SMTP server configured")
            return DigestResult(result="mail_disabled")
        async with self.pool.acquire() as conn, conn.transaction():
            # The receipts row is the lock: two runs (or retries) claim ranges one at a time.
            state = await sreceipts.lock_digest_state(conn, ref)
            if state is None:
                raise ApplicationError("conversation not found for this shop", non_retryable=True)
            claimed = await sreceipts.unfinished_digest(conn, ref)
            if claimed is None:
                start = max(state.seen_upto, state.emailed_upto)
                messages = await smessages.agent_replies_between(conn, ref, start, req.upto_seq)
                if not messages:
                    return DigestResult(result="nothing_unseen")
                if not state.email:
                    return DigestResult(result="no_email")
                from_seq, to_seq = messages[0].seq, messages[-1].seq
                domain = urlsplit(self.settings.public_url or "http://zora.invalid").hostname or "zora.invalid"
                message_id = digest_message_id(ref.conversation_id, from_seq, to_seq, domain)
                recipient = state.email
                await sreceipts.claim_digest(conn, ref, sreceipts.DigestClaim(from_seq, to_seq, recipient, message_id))
            else:
                # A claim whose send did not finish (a crash or a failed attempt): the same range again.
                from_seq, to_seq = claimed.from_seq, claimed.to_seq
                recipient, message_id = claimed.recipient, claimed.message_id
                messages = await smessages.agent_replies_in(conn, ref, from_seq, to_seq)
            messages = await transcript.with_files(conn, ref.conversation_id, messages)
        async with self.pool.acquire() as conn:
            link = await self.link(conn, req)
            w = await shopper_words(conn, ref.shop_id, ref.shopper_id, ref.conversation_id)
        try:
            email = digest_email(
                shop_name=state.shop_name,
                to_address=recipient,
                to_name=state.shopper_name,
                messages=messages,
                link=link,
                message_id=message_id,
                files_base=self.settings.public_url,
                w=w,
            )
            await self.mailer.send(email)
        except (MailError, InvalidAddress) as exc:
            final, why = _final(exc)
            if not final:
                # The claim stays 'sending': the retry sends the same range.
                raise ApplicationError(f"unseen replies not emailed yet: {why}", type="MailUnavailable") from exc
            log.warning("unseen replies seq %d-%d not emailed, %s", from_seq, to_seq, why)
            # Settled: a later run claims newer replies instead of trying this range forever.
            await sreceipts.digest_failed(self.pool, ref, from_seq, why[:500])
            raise ApplicationError(f"unseen replies not emailed, {why}", type="MailFailed", non_retryable=True) from exc
        await sreceipts.digest_sent(self.pool, ref, from_seq)
        log.info("emailed %d unseen repl(ies), seq %d-%d", len(messages), from_seq, to_seq)
        return DigestResult(result="emailed", from_seq=from_seq, to_seq=to_seq)
