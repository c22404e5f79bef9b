"""Side effects around an assistant turn (issue 12 §2 §6), for ConversationWorkflow and the turn itself:
whether the assistant answers, the turn's context from PostgreSQL (transcript, the shop's choices, the
daily budget), the audit of each turn, the answer to the shopper and the thread (stored once per turn),
drafts for agents, and the handover note. Tool results are in the audit only: never sent anywhere."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from temporalio.exceptions import ApplicationError

from activities.calls import (
    ASSISTANT_DELIVER_CALL,
    ASSISTANT_DISCARD_DRAFT_CALL,
    ASSISTANT_GATE_CALL,
    ASSISTANT_HAND_OVER_CALL,
    ASSISTANT_POST_DRAFT_CALL,
    ASSISTANT_RECORD_TURN_CALL,
    ASSISTANT_SET_STATE_CALL,
    ASSISTANT_TURN_CONTEXT_CALL,
)
from activities.slack_errors import rate_limited
from bot.assistant_posts import answer_text, decided_draft, draft_blocks, hand_over_note
from bot.outbound import SlackOutbound
from zora.assistant_texts import handover_notice_id, person_joins
from zora.assistant_turns import (
    AssistantStateChange,
    DeliverAnswer,
    DiscardDraft,
    GateRequest,
    GateResult,
    HandOver,
    PostDraft,
    RecordTurn,
    TurnContext,
    TurnContextRequest,
    history_message,
)
from zora.business_hours import add_business_time, is_open
from zora.db import Pool, Row
from zora.identity_codes import shown_to_agents
from zora.logs import conversation_id_var
from zora.models import ConversationRef, SlackThread
from zora.push import push
from zora.settings import Settings
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopper_language import settings_or_defaults
from zora.slack_api import SlackGateway, classify
from zora.store import actions as sactions
from zora.store import assistant as sassistant
from zora.store import assistant_metrics
from zora.store import conversations as sconversations
from zora.store import shops as sshops
from zora.store import slack_posts as sslack_posts
from zora.store import threads as sthreads
from zora.widget_events import AssistantTyping, NewMessage

log = logging.getLogger(__name__)

# The latest messages a turn sees: enough for a support conversation, bounded for the model's context.
HISTORY_MESSAGES = 40
_MILLION = Decimal(1_000_000)


def start_of_day(now: datetime, timezone: str) -> datetime:
    """Midnight of `now`'s day in the shop's time zone: the daily budget counts from there."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def over_budget(settings: ShopSettings, turns: int, tokens: int) -> str | None:
    budget = settings.assistant
    if turns >= budget.daily_turns:
        return f"the shop's daily budget of {budget.daily_turns} assistant turns is spent"
    if tokens >= budget.daily_tokens:
        return f"the shop's daily budget of {budget.daily_tokens} assistant tokens is spent"
    return None


class AssistantTurnActivities:
    def __init__(self, pool: Pool, outbound: SlackOutbound, settings: Settings) -> None:
        self.pool = pool
        self.outbound = outbound
        self.llm_timeout = settings.openai_timeout_seconds
        self.price_in = Decimal(str(settings.openai_price_input_per_mtok))
        self.price_out = Decimal(str(settings.openai_price_output_per_mtok))

    def all(self) -> list[Any]:
        return [
            self.gate,
            self.turn_context,
            self.set_state,
            self.record_turn,
            self.deliver,
            self.post_draft,
            self.discard_draft,
            self.hand_over,
        ]

    @ASSISTANT_GATE_CALL.defn
    async def gate(self, req: GateRequest) -> GateResult:
        async with self.pool.acquire() as conn:
            settings = parse_settings(await sshops.settings(conn, req.ref.shop_id))
        now = datetime.now(UTC)
        in_hours = is_open(now, settings.business_hours, settings.timezone)
        return GateResult(
            enabled=settings.assistant.enabled,
            mode=settings.assistant.mode,
            available=settings.available,
            in_hours=in_hours,
            llm_timeout_seconds=self.llm_timeout,
            # No open time to add: the next moment the shop is open.
            opens_at=None
            if in_hours
            else add_business_time(now, timedelta(0), settings.business_hours, settings.timezone),
        )

    @ASSISTANT_TURN_CONTEXT_CALL.defn
    async def turn_context(self, req: TurnContextRequest) -> TurnContext:
        async with self.pool.acquire() as conn:
            raw = await sconversations.shop_settings(conn, req.shop_id, req.conversation_id)
            if raw is None:
                raise ApplicationError(
                    "the conversation is not one of this shop's", type="TurnScope", non_retryable=True
                )
            settings = parse_settings(raw)
            rows = await sassistant.transcript(conn, req.shop_id, req.conversation_id, req.seq, HISTORY_MESSAGES)
            since = start_of_day(datetime.now(UTC), settings.timezone)
            turns, tokens = await sassistant.usage_since(conn, req.shop_id, since)
        return TurnContext(
            history=[history_message(r["direction"], r["author_id"], r["author_name"], r["body"]) for r in rows],
            persona_name=settings.assistant.persona_name,
            instructions=settings.assistant.instructions,
            max_steps=settings.assistant.max_steps,
            over_budget=over_budget(settings, turns, tokens),
        )

    @ASSISTANT_SET_STATE_CALL.defn
    async def set_state(self, req: AssistantStateChange) -> None:
        async with self.pool.acquire() as conn:
            await sassistant.set_state(conn, req.ref, req.state)
        # Raised until the thread exists (retried): a card posted before the state was written would
        # otherwise never show it.
        await self._thread(req.ref)
        await self._redraw(req.ref)

    async def _redraw(self, ref: ConversationRef) -> None:
        try:
            await self.outbound.update_card(ref.conversation_id)
        except SlackApiError as exc:
            # Recorded in PostgreSQL; the card catches up with the next change.
            log.warning("could not update the conversation card: %s", exc.response.get("error"))

    @ASSISTANT_RECORD_TURN_CALL.defn
    async def record_turn(self, req: RecordTurn) -> None:
        result = req.result
        turn = sassistant.TurnRow(
            shop_id=req.ref.shop_id,
            conversation_id=req.ref.conversation_id,
            seq=req.seq,
            outcome=result.outcome if result else "cancelled",
            reason=result.reason if result else "a newer message or a person came first",
            steps=result.steps if result else 0,
            model=result.model if result else None,
            prompt_tokens=result.prompt_tokens if result else 0,
            completion_tokens=result.completion_tokens if result else 0,
            cost=self._cost(result.prompt_tokens, result.completion_tokens) if result else Decimal(0),
            answer=result.text if result else None,
            slack_stream_ts=result.slack_stream_ts if result else None,
            started_at=req.started_at,
        )
        tools = [
            sassistant.ToolRow(step=t.step, name=t.name, arguments=t.arguments, content=t.content, refused=t.refused)
            for t in (result.tools if result else [])
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            await sassistant.record_turn(conn, req.turn_id, turn, tools)
            # The day's figures per shop (docs/assistant.md, "Measurement"): once per turn id.
            await assistant_metrics.record_turn_outcome(
                conn,
                turn_id=req.turn_id,
                shop_id=turn.shop_id,
                conversation_id=turn.conversation_id,
                outcome=result.outcome if result else "cancelled",
                handover_reason=None if turn.outcome == "answered" else turn.reason,
                prompt_tokens=turn.prompt_tokens,
                completion_tokens=turn.completion_tokens,
                cost_usd=turn.cost,
            )

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / _MILLION

    async def _turn(self, ref: ConversationRef, turn_id: str) -> tuple[Row, ShopSettings]:
        async with self.pool.acquire() as conn:
            row = await sassistant.turn(conn, ref.shop_id, turn_id)
            settings = parse_settings(await sshops.settings(conn, ref.shop_id))
        if row is None or row["conversation_id"] != ref.conversation_id or not row["answer"]:
            raise ApplicationError(f"no answer recorded for {turn_id}", type="NoAnswer", non_retryable=True)
        return row, settings

    async def _thread(self, ref: ConversationRef) -> tuple[SlackThread, SlackGateway]:
        thread = await sthreads.of_conversation(self.pool, ref.conversation_id)
        if thread is None:
            # The shopper's first message is still on its way to Slack (it creates the thread).
            raise ApplicationError("the conversation has no Slack thread yet", type="NoThreadYet")
        return thread, await self.outbound.workspaces.for_team(thread.team_id)

    @ASSISTANT_DELIVER_CALL.defn
    async def deliver(self, req: DeliverAnswer) -> int:
        """Store the answer as the assistant's message (once: its client id is the turn id), push it to
        the widget (which swaps the turn's streamed bubble for it) and post it in the thread."""
        conversation_id_var.set(str(req.ref.conversation_id))
        row, settings = await self._turn(req.ref, req.turn_id)
        persona = settings.assistant.persona_name
        async with self.pool.acquire() as conn:
            message, new = await sassistant.store_answer(conn, req.ref, req.turn_id, persona, row["answer"])
        if not new:
            log.info("the answer of %s was stored before (a retry); not stored again", req.turn_id)
        # Pushed on every attempt: an attempt that failed after storing may not have pushed it.
        await push(self.outbound.emitter, NewMessage.of(message))
        thread, slack = await self._thread(req.ref)
        async with self.pool.acquire() as conn:
            posted = await sassistant.slack_ts_of(conn, req.ref.conversation_id, message.seq)
        try:
            if posted is None:
                ts = row["slack_stream_ts"]
                if ts is None:
                    answer = answer_text(persona, row["answer"], req.approved_by)
                    response = await slack.chat_postMessage(
                        channel=thread.channel, thread_ts=thread.thread_ts, text=answer, unfurl_links=False
                    )
                    ts = str(response["ts"])
                async with self.pool.acquire() as conn:
                    await sslack_posts.set_slack_ts(conn, req.ref.conversation_id, message.seq, thread.channel, ts)
            if req.approved_by and row["draft_ts"]:
                text, blocks = decided_draft(persona, row["answer"], f"sent by <@{req.approved_by}>")
                await slack.chat_update(channel=row["draft_channel"], ts=row["draft_ts"], text=text, blocks=blocks)
        except SlackApiError as exc:
            raise _slack_failure(exc) from None
        return message.seq

    @ASSISTANT_POST_DRAFT_CALL.defn
    async def post_draft(self, req: PostDraft) -> None:
        row, settings = await self._turn(req.ref, req.turn_id)
        if row["draft_ts"]:
            return  # posted by an earlier attempt
        thread, slack = await self._thread(req.ref)
        text, blocks = draft_blocks(settings.assistant.persona_name, row["answer"], req.turn_id)
        try:
            response = await slack.chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread_ts, text=text, blocks=blocks, unfurl_links=False
            )
        except SlackApiError as exc:
            raise _slack_failure(exc) from None
        async with self.pool.acquire() as conn:
            await sassistant.set_draft_post(conn, req.turn_id, thread.channel, str(response["ts"]))

    @ASSISTANT_DISCARD_DRAFT_CALL.defn
    async def discard_draft(self, req: DiscardDraft) -> None:
        row, settings = await self._turn(req.ref, req.turn_id)
        if not row["draft_ts"]:
            return
        _thread, slack = await self._thread(req.ref)
        text, blocks = decided_draft(settings.assistant.persona_name, row["answer"], f"discarded by <@{req.user_id}>")
        try:
            await slack.chat_update(channel=row["draft_channel"], ts=row["draft_ts"], text=text, blocks=blocks)
        except SlackApiError as exc:
            raise _slack_failure(exc) from None

    @ASSISTANT_HAND_OVER_CALL.defn
    async def hand_over(self, req: HandOver) -> None:
        """The assistant lets go: off for this conversation, a note for the team in the thread."""
        conversation_id_var.set(str(req.ref.conversation_id))
        await self._stopped_writing(req)
        if req.tell_shopper:
            await self._person_joins(req.ref)
        async with self.pool.acquire() as conn:
            await sassistant.set_state(conn, req.ref, "off")
            settings = parse_settings(await sshops.settings(conn, req.ref.shop_id))
            words = await sassistant.last_shopper_words(conn, req.ref)
            if words:
                # Quoted to the team as the thread shows it: a code the shopper typed is masked.
                words = await shown_to_agents(conn, req.ref.conversation_id, words, datetime.now(UTC))
            posted = await sassistant.note_ts(conn, req.ref)
        thread = await sthreads.of_conversation(self.pool, req.ref.conversation_id)
        if posted is not None:
            await self._redraw(req.ref)  # an earlier attempt posted the note
            return
        if thread is None:
            # The shopper's first message can still be on its way to Slack: asking for a person before
            # writing starts the run with that message, beside its post. Temporal retries (bounded)
            # until the thread exists; the workflow goes on without the note if it never does.
            raise ApplicationError("no Slack thread yet for the handover note", type="NoThreadYet")
        slack = await self.outbound.workspaces.for_team(thread.team_id)
        try:
            response = await slack.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.thread_ts,
                text=hand_over_note(settings.mention(), req.reason, words),
                unfurl_links=False,
            )
        except SlackApiError as exc:
            raise _slack_failure(exc) from None
        async with self.pool.acquire() as conn:
            # It quotes the shopper: a customer's erasure deletes it from Slack too.
            await sassistant.set_note(conn, req.ref, str(response["ts"]))
        await self._redraw(req.ref)

    async def _person_joins(self, ref: ConversationRef) -> None:
        """The shopper is told a person will join, from the assistant, in the conversation's language:
        stored once (a retried handover finds it), pushed on every attempt. Not posted in the thread:
        the handover note tells the team."""
        async with self.pool.acquire() as conn:
            raw, locale = await sactions.settings_and_locale(conn, ref.shop_id, ref.conversation_id)
            settings = settings_or_defaults(raw)
            notice = person_joins(locale, settings.languages)
            message, _new = await sassistant.store_answer(
                conn, ref, handover_notice_id(ref.conversation_id), settings.assistant.persona_name, notice
            )
        await push(self.outbound.emitter, NewMessage.of(message))

    async def _stopped_writing(self, req: HandOver) -> None:
        """The widget stops showing the assistant writing: no answer follows (best effort: the widget
        also hides it after a while without news)."""
        if req.turn_id is None:
            return
        try:
            event = AssistantTyping(conversation_id=req.ref.conversation_id, turn=req.turn_id, typing=False)
            await push(self.outbound.emitter, event)
        except Exception:
            log.warning("could not tell the widget that the assistant stopped writing", exc_info=True)


def _slack_failure(exc: SlackApiError) -> Exception:
    failure = classify(exc)
    if failure.rate_limited:
        return rate_limited(failure.wait(1))
    return ApplicationError(f"Slack refused: {failure.error}", type="SlackError", non_retryable=failure.needs_a_person)
