"""Agent replies for shoppers who left: held in PostgreSQL, replayed on reconnect, emailed once when
still unseen (MissedRepliesWorkflow + a real SMTP server, aiosmtpd)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any
from uuid import UUID

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import mails_to, session_ref, smtp_options, wait_for_mail
from tests.widget.test_receipts_and_profile import conversation_with_reply
from zora.mail import Mailer
from zora.mail_catcher import MailCatcher
from zora.models import DigestRequest, MissedRepliesOutcome, missed_replies_workflow_id

# Unseen replies are emailed after this long in these tests (the setting is in minutes).
EMAIL_AFTER_MINUTES = 0.02


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {
        **smtp_options(catcher.smtp_port),
        "mail_from": "Test shop <support@shop.test>",
        "offline_email_after_minutes": EMAIL_AFTER_MINUTES,
        "widget_link_url": "https://{shop}/pages/help",
    }


async def delivery_exists(zora: Zora, conversation_id: str) -> bool:
    handle = zora.services.temporal.get_workflow_handle(missed_replies_workflow_id(UUID(conversation_id)))
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def finished(zora: Zora, conversation_id: str) -> MissedRepliesOutcome:
    handle = zora.services.temporal.get_workflow_handle(
        missed_replies_workflow_id(UUID(conversation_id)), result_type=MissedRepliesOutcome
    )
    outcome: MissedRepliesOutcome = await handle.result()
    return outcome


async def shopper_with_email(zora: Zora, email: str) -> tuple[dict[str, Any], Shopper]:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("profile", {"name": "Ana", "email": email}))["ok"]
    # Mail goes only to confirmed addresses; tests/security/test_email_confirmation.py confirms one
    # through the emailed link, these tests are about delivery.
    await zora.fetch("UPDATE shoppers SET email_confirmed_at = now() WHERE id = $1::uuid", session["shopper_id"])
    return session, shopper


async def leave(zora: Zora, shopper: Shopper) -> None:
    """Closes the shopper's socket and returns once the server's disconnect handler has finished (the
    positive sign a check that no delivery started needs: the handler runs after the client is gone)."""
    namespace = zora.widget()
    sid = shopper.sio.get_sid("/widget")
    handled = asyncio.Event()
    handler = namespace.on_disconnect

    async def observed(disconnected: str, reason: Any = None) -> None:
        try:
            await handler(disconnected, reason)
        finally:
            if disconnected == sid:
                handled.set()

    namespace.on_disconnect = observed  # type: ignore[method-assign]
    try:
        await shopper.close()
        await asyncio.wait_for(handled.wait(), 15)
    finally:
        del namespace.on_disconnect


async def test_connected_shopper_costs_no_workflow(zora: Zora) -> None:
    session, shopper = await shopper_with_email(zora, f"online-{uuid.uuid4().hex[:6]}@example.com")
    await conversation_with_reply(zora, shopper)
    seq = shopper.agent_messages()[-1]["seq"]
    assert (await shopper.call("seen", {"upto_seq": seq}))["ok"]
    assert not await delivery_exists(zora, session["conversation_id"])
    # Leaving with everything seen leaves nothing to deliver either.
    await leave(zora, shopper)
    assert not await delivery_exists(zora, session["conversation_id"])


async def test_replies_for_a_shopper_who_left_are_replayed_and_emailed_once(zora: Zora, catcher: MailCatcher) -> None:
    address = f"ana-{uuid.uuid4().hex[:6]}@example.com"
    session, shopper = await shopper_with_email(zora, address)
    thread_ts = await conversation_with_reply(zora, shopper, "First answer, seen live")
    first = shopper.agent_messages()[-1]["seq"]
    assert (await shopper.call("seen", {"upto_seq": first}))["ok"]
    await shopper.close()

    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "It ships Monday.", user=AGENT) == 200
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "Tracking: ZX-42", user=AGENT) == 200
    assert await delivery_exists(zora, session["conversation_id"])

    [mail] = await wait_for_mail(catcher, address, 1)
    assert "2 new replies" in str(mail.message["Subject"])
    assert "It ships Monday." in mail.text and "Tracking: ZX-42" in mail.text
    assert "First answer, seen live" not in mail.text
    assert mail.mail_from == "support@shop.test"
    outcome = await finished(zora, session["conversation_id"])
    assert (outcome.result, outcome.emails_sent) == ("emailed", 1)

    # The link (a single-use code, never a token) opens the same conversation on the storefront.
    link = re.search(r"https://\S+#zora-code=(\S+)", mail.text)
    assert link is not None and link.group(0).startswith(f"https://{zora.shop}/pages/help#")
    reopened = await zora.session(code=link.group(1))
    assert reopened["conversation_id"] == session["conversation_id"]

    # Coming back replays what was missed, by seq.
    back = await zora.shopper(reopened["token"])
    resumed = await back.call("resume", {"since_seq": first})
    assert [m["body"] for m in resumed["messages"]] == ["It ships Monday.", "Tracking: ZX-42"]
    await back.close()

    # A later reply starts a new wait and a new email with only the new message.
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "It has shipped!", user=AGENT) == 200
    mails = await wait_for_mail(catcher, address, 2)
    assert "It has shipped!" in mails[1].text and "Tracking: ZX-42" not in mails[1].text
    await finished(zora, session["conversation_id"])
    digests = await zora.fetch(
        "SELECT from_seq, to_seq, status FROM email_digests WHERE conversation_id = $1::uuid ORDER BY from_seq",
        session["conversation_id"],
    )
    assert [(d["to_seq"] - d["from_seq"], d["status"]) for d in digests] == [(1, "sent"), (0, "sent")]
    assert digests[0]["to_seq"] < digests[1]["from_seq"]
    assert len(mails_to(catcher, address)) == 2


async def test_a_socket_that_leaves_without_acking_hands_its_replies_over(zora: Zora, catcher: MailCatcher) -> None:
    address = f"quiet-{uuid.uuid4().hex[:6]}@example.com"
    session, shopper = await shopper_with_email(zora, address)
    # The reply reaches an open socket that never acknowledges it (a tab closing, a dead link).
    await conversation_with_reply(zora, shopper, "Did you get this?")
    assert not await delivery_exists(zora, session["conversation_id"])
    await shopper.close()
    [mail] = await wait_for_mail(catcher, address, 1)
    assert "Did you get this?" in mail.text
    assert (await finished(zora, session["conversation_id"])).emails_sent == 1


async def test_nothing_is_emailed_once_the_shopper_has_seen_it(zora: Zora, catcher: MailCatcher) -> None:
    address = f"back-{uuid.uuid4().hex[:6]}@example.com"
    session, shopper = await shopper_with_email(zora, address)
    await conversation_with_reply(zora, shopper, "Welcome back")
    seq = shopper.agent_messages()[-1]["seq"]
    acts = EmailActivities(zora.services.pool, Mailer(zora.settings), zora.settings)
    req = DigestRequest(ref=session_ref(zora, session), upto_seq=seq)
    assert (await shopper.call("seen", {"upto_seq": seq}))["ok"]
    result = await ActivityEnvironment().run(acts.email_unseen_replies, req)
    assert result.result == "nothing_unseen"
    assert mails_to(catcher, address) == []


async def test_a_failed_send_is_retried_with_the_same_range_and_never_duplicated(
    zora: Zora, catcher: MailCatcher
) -> None:
    address = f"retry-{uuid.uuid4().hex[:6]}@example.com"
    session, shopper = await shopper_with_email(zora, address)
    await conversation_with_reply(zora, shopper, "Sent while the mail server was down")
    seq = shopper.agent_messages()[-1]["seq"]
    req = DigestRequest(ref=session_ref(zora, session), upto_seq=seq)
    env = ActivityEnvironment()

    unreachable = zora.settings.with_values(smtp_port=_closed_port())
    down = EmailActivities(zora.services.pool, Mailer(unreachable, timeout=5), zora.settings)
    # A transient failure: Temporal tries again (within the workflow's bounded policy).
    with pytest.raises(ApplicationError) as failed:
        await env.run(down.email_unseen_replies, req)
    assert not failed.value.non_retryable
    claimed = await zora.fetch(
        "SELECT from_seq, to_seq, status, message_id FROM email_digests WHERE conversation_id = $1::uuid",
        session["conversation_id"],
    )
    assert [(c["from_seq"], c["to_seq"], c["status"]) for c in claimed] == [(seq, seq, "sending")]

    up = EmailActivities(zora.services.pool, Mailer(zora.settings), zora.settings)
    result = await env.run(up.email_unseen_replies, req)
    assert (result.result, result.from_seq, result.to_seq) == ("emailed", seq, seq)
    [mail] = await wait_for_mail(catcher, address, 1)
    assert str(mail.message["Message-ID"]).strip() == claimed[0]["message_id"]
    # Asked again (a retried activity, a second run): those messages never go out twice.
    assert (await env.run(up.email_unseen_replies, req)).result == "nothing_unseen"
    assert len(mails_to(catcher, address)) == 1


async def test_without_an_email_address_or_smtp_nothing_is_sent(zora: Zora, catcher: MailCatcher) -> None:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    await conversation_with_reply(zora, shopper, "Nobody to write to")
    seq = shopper.agent_messages()[-1]["seq"]
    req = DigestRequest(ref=session_ref(zora, session), upto_seq=seq)
    before = len(catcher.caught)
    acts = EmailActivities(zora.services.pool, Mailer(zora.settings), zora.settings)
    assert (await ActivityEnvironment().run(acts.email_unseen_replies, req)).result == "no_email"
    no_smtp = zora.settings.with_values(smtp_host=None)
    disabled = EmailActivities(zora.services.pool, Mailer(no_smtp), no_smtp)
    assert (await ActivityEnvironment().run(disabled.email_unseen_replies, req)).result == "mail_disabled"
    assert len(catcher.caught) == before


async def test_the_workflow_finishes_when_nothing_is_pending(zora: Zora) -> None:
    session, shopper = await shopper_with_email(zora, f"gone-{uuid.uuid4().hex[:6]}@example.com")
    await conversation_with_reply(zora, shopper, "Quick one")
    seq = shopper.agent_messages()[-1]["seq"]
    await shopper.call("seen", {"upto_seq": seq})
    from zora.missed_replies import missed_replies_config
    from zora.temporal import start_missed_replies

    # Started although everything was seen (a race the design allows): it finds nothing and ends.
    await start_missed_replies(
        zora.services.temporal,
        zora.settings.temporal_task_queue,
        session_ref(zora, session),
        missed_replies_config(zora.settings),
        seq,
    )
    outcome = await finished(zora, session["conversation_id"])
    assert (outcome.result, outcome.emails_sent) == ("nothing_unseen", 0)
    desc = await zora.services.temporal.get_workflow_handle(
        missed_replies_workflow_id(UUID(session["conversation_id"]))
    ).describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
