"""Side effects of OutboundDeliveryWorkflow: find the replies a shopper has not seen, email them once."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import EMAIL_TRANSCRIPT, EMAIL_UNSEEN_REPLIES
from zora import transcript
from zora.addresses import InvalidAddress
from zora.identity import issue_code
from zora.logs import conversation_id_var
from zora.mail import Mailer, MailError, digest_email, digest_message_id, transcript_email
from zora.models import DigestRequest, DigestResult, LoadConversation
from zora.settings import Settings

log = logging.getLogger(__name__)

# Where chat email may go (issue 10 item 5): an address the shopper typed only once they confirmed it,
# otherwise the email of the Shopify customer the shopper is bound to (Shopify vouched for both).
RECIPIENT = "CASE WHEN s.email_confirmed_at IS NOT NULL THEN s.email ELSE cu.email END"
RECIPIENT_JOIN = "LEFT JOIN customers cu ON cu.id = s.customer_id AND cu.deleted_at IS NULL"


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


class DeliveryActivities:
    def __init__(self, pool: Any, mailer: Mailer, settings: Settings) -> None:
        self.pool = pool
        self.mailer = mailer
        self.settings = settings

    def all(self) -> list[Any]:
        return [self.email_unseen_replies, self.email_transcript]

    @EMAIL_TRANSCRIPT.defn
    async def email_transcript(self, req: LoadConversation) -> bool:
        """The whole conversation to the shopper, on resolve; once per state of the transcript."""
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        if not self.mailer.enabled:
            log.info("transcript not emailed: no SMTP server configured")
            return False
        async with self.pool.acquire() as conn:
            state = await conn.fetchrow(
                f"SELECT c.last_seq, c.transcript_sent_upto, {RECIPIENT} AS email, s.name AS shopper_name,"
                " sh.name AS shop_name FROM conversations c JOIN shoppers s ON s.id = c.shopper_id"
                f" JOIN shops sh ON sh.id = c.shop_id {RECIPIENT_JOIN} WHERE c.id = $1 AND c.shop_id = $2",
                ref.conversation_id,
                ref.shop_id,
            )
            if state is None or not state["email"] or state["last_seq"] <= state["transcript_sent_upto"]:
                return False  # nobody to send to, or this transcript went out already
            rows = await conn.fetch(
                f"SELECT {transcript.MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
                " AND deleted_at IS NULL ORDER BY seq",
                ref.conversation_id,
                ref.shop_id,
            )
            messages = await transcript.with_files(
                conn, ref.conversation_id, [transcript.stored_message(r) for r in rows]
            )
        domain = urlsplit(self.settings.public_url or "http://zora.invalid").hostname or "zora.invalid"
        try:
            email = transcript_email(
                shop_name=state["shop_name"],
                to_address=state["email"],
                to_name=state["shopper_name"],
                messages=messages,
                files_base=self.settings.public_url,
                # The same transcript retried is the same email (mail clients fold it).
                message_id=f"<zora-transcript.{ref.conversation_id}.{state['last_seq']}@{domain}>",
            )
            await self.mailer.send(email)
        except (MailError, InvalidAddress) as exc:
            final, why = _final(exc)
            if not final:
                raise ApplicationError(f"transcript not emailed yet: {why}", type="MailUnavailable") from exc
            log.warning("transcript not emailed, %s", why)
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE conversations SET transcript_error = $2 WHERE id = $1",
                    ref.conversation_id,
                    f"seq {state['last_seq']}: {why}"[:500],
                )
            raise ApplicationError(f"transcript not emailed, {why}", type="MailFailed", non_retryable=True) from exc
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE conversations SET transcript_sent_upto = GREATEST(transcript_sent_upto, $2),"
                " transcript_error = NULL WHERE id = $1",
                ref.conversation_id,
                state["last_seq"],
            )
        return True

    async def link(self, conn: Any, req: DigestRequest) -> str:
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
            await conn.execute(
                "INSERT INTO shopper_receipts (conversation_id, shop_id) SELECT id, shop_id FROM conversations"
                " WHERE id = $1 AND shop_id = $2 ON CONFLICT (conversation_id) DO NOTHING",
                ref.conversation_id,
                ref.shop_id,
            )
            state = await conn.fetchrow(
                f"SELECT r.seen_upto, r.emailed_upto, {RECIPIENT} AS email, s.name AS shopper_name,"
                " sh.name AS shop_name FROM shopper_receipts r JOIN conversations c ON c.id = r.conversation_id"
                f" JOIN shoppers s ON s.id = c.shopper_id JOIN shops sh ON sh.id = c.shop_id {RECIPIENT_JOIN}"
                " WHERE r.conversation_id = $1 AND r.shop_id = $2 FOR UPDATE OF r",
                ref.conversation_id,
                ref.shop_id,
            )
            if state is None:
                raise ApplicationError("conversation not found for this shop", non_retryable=True)
            claimed = await conn.fetchrow(
                "SELECT from_seq, to_seq, recipient, message_id FROM email_digests"
                " WHERE conversation_id = $1 AND status = 'sending' ORDER BY from_seq LIMIT 1",
                ref.conversation_id,
            )
            if claimed is None:
                start = max(state["seen_upto"], state["emailed_upto"])
                rows = await conn.fetch(
                    f"SELECT {transcript.MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
                    " AND direction = 'agent' AND deleted_at IS NULL AND seq > $3 AND seq <= $4 ORDER BY seq",
                    ref.conversation_id,
                    ref.shop_id,
                    start,
                    req.upto_seq,
                )
                if not rows:
                    return DigestResult(result="nothing_unseen")
                if not state["email"]:
                    return DigestResult(result="no_email")
                from_seq, to_seq = rows[0]["seq"], rows[-1]["seq"]
                domain = urlsplit(self.settings.public_url or "http://zora.invalid").hostname or "zora.invalid"
                message_id = digest_message_id(ref.conversation_id, from_seq, to_seq, domain)
                recipient = state["email"]
                await conn.execute(
                    "INSERT INTO email_digests (shop_id, conversation_id, from_seq, to_seq, recipient, message_id)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    ref.shop_id,
                    ref.conversation_id,
                    from_seq,
                    to_seq,
                    recipient,
                    message_id,
                )
                await conn.execute(
                    "UPDATE shopper_receipts SET emailed_upto = GREATEST(emailed_upto, $2), updated_at = now()"
                    " WHERE conversation_id = $1",
                    ref.conversation_id,
                    to_seq,
                )
            else:
                # A claim whose send did not finish (a crash or a failed attempt): the same range again.
                from_seq, to_seq = claimed["from_seq"], claimed["to_seq"]
                recipient, message_id = claimed["recipient"], claimed["message_id"]
                rows = await conn.fetch(
                    f"SELECT {transcript.MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
                    " AND direction = 'agent' AND deleted_at IS NULL AND seq >= $3 AND seq <= $4 ORDER BY seq",
                    ref.conversation_id,
                    ref.shop_id,
                    from_seq,
                    to_seq,
                )
            messages = await transcript.with_files(
                conn, ref.conversation_id, [transcript.stored_message(r) for r in rows]
            )
        async with self.pool.acquire() as conn:
            link = await self.link(conn, req)
        try:
            email = digest_email(
                shop_name=state["shop_name"],
                to_address=recipient,
                to_name=state["shopper_name"],
                messages=messages,
                link=link,
                message_id=message_id,
                files_base=self.settings.public_url,
            )
            await self.mailer.send(email)
        except (MailError, InvalidAddress) as exc:
            final, why = _final(exc)
            if not final:
                # The claim stays 'sending': the retry sends the same range.
                raise ApplicationError(f"unseen replies not emailed yet: {why}", type="MailUnavailable") from exc
            log.warning("unseen replies seq %d-%d not emailed, %s", from_seq, to_seq, why)
            async with self.pool.acquire() as conn:
                # Settled: a later run claims newer replies instead of trying this range forever.
                await conn.execute(
                    "UPDATE email_digests SET status = 'failed', error = $3 WHERE conversation_id = $1 AND from_seq = $2",
                    ref.conversation_id,
                    from_seq,
                    why[:500],
                )
            raise ApplicationError(f"unseen replies not emailed, {why}", type="MailFailed", non_retryable=True) from exc
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE email_digests SET status = 'sent', sent_at = now() WHERE conversation_id = $1 AND from_seq = $2",
                ref.conversation_id,
                from_seq,
            )
        log.info("emailed %d unseen repl(ies), seq %d-%d", len(rows), from_seq, to_seq)
        return DigestResult(result="emailed", from_seq=from_seq, to_seq=to_seq)
