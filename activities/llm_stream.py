"""Where an assistant's answer goes while the model writes it (issue 12 §5): the shopper's widget
(`assistant_delta` / `assistant_typing` socket events) and the conversation's Slack thread (Slack's
message streaming, where the workspace has it).

Both are best effort: the answer itself is the activity's result, which the turn stores and delivers
once. A push that fails stops the widget's stream (the final message still arrives); a Slack stream
that fails is deleted and not reported, so the turn posts the answer the ordinary way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from zora.assistant import StreamTarget
from zora.models import SlackThread
from zora.push import Emitter, push
from zora.slack_api import SlackGateway
from zora.slack_text import escape
from zora.widget_events import AssistantDelta, AssistantTyping

log = logging.getLogger(__name__)

# A delta goes out when this much text waited this long, or this many characters piled up: tokens
# arrive every few milliseconds, and one socket event per token would cost the widget more than it shows.
DELTA_INTERVAL_SECONDS = 0.05
DELTA_MAX_CHARS = 120
# Slack's streaming methods are rate limited like chat.update: append a few times a second at most.
SLACK_INTERVAL_SECONDS = 0.5
# Slack takes at most this many characters of markdown_text per call.
SLACK_MARKDOWN_LIMIT = 12_000


class ShopperStream:
    """The text of one model call (`step`, `attempt`) of a turn, pushed to the conversation's widgets."""

    def __init__(
        self,
        emitter: Emitter,
        target: StreamTarget,
        turn: str,
        step: int,
        attempt: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emitter = emitter
        self.target = target
        self.turn = turn
        self.step = step
        self.attempt = attempt
        self.clock = clock
        # Characters of this call's text already pushed: the next delta's offset.
        self.offset = 0
        self.pending: list[str] = []
        self.pending_chars = 0
        self.since = clock()
        self.broken = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    async def _push(self, event: AssistantDelta | AssistantTyping) -> None:
        if self.broken:
            return
        try:
            await push(self.emitter, event)
        except Exception:
            # Redis is away: the shopper gets the final message (resume replays it); stop trying here.
            log.warning("could not push the assistant's stream of %s; the final message will follow", self.turn)
            self.broken = True

    async def typing(self, typing: bool) -> None:
        await self._push(AssistantTyping(conversation_id=self.target.conversation_id, turn=self.turn, typing=typing))

    async def add(self, text: str) -> None:
        if not text:
            return
        if not self.pending:
            self.since = self.clock()
        self.pending.append(text)
        self.pending_chars += len(text)
        # The first piece goes at once (what the shopper waits for is the first word); later ones in batches.
        first = self.offset == 0 and self.pending_chars == len(text)
        if first or self.pending_chars >= DELTA_MAX_CHARS or self.clock() - self.since >= DELTA_INTERVAL_SECONDS:
            await self.flush()
        elif self._timer is None:
            # A model that pauses after a few tokens: what came still shows within the interval.
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(DELTA_INTERVAL_SECONDS)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        # One at a time, so deltas leave in offset order (the timer's flush and the stream's may meet).
        async with self._lock:
            if not self.pending:
                return
            text = "".join(self.pending)
            self.pending, self.pending_chars = [], 0
            delta = AssistantDelta(
                conversation_id=self.target.conversation_id,
                turn=self.turn,
                step=self.step,
                attempt=self.attempt,
                offset=self.offset,
                text=text,
            )
            self.offset += len(text)
            await self._push(delta)

    def stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    async def close(self) -> None:
        """Sends what is left and stops the timer."""
        self.stop_timer()
        await self.flush()


def slack_label(persona_name: str) -> str:
    """The first line of a streamed answer in Slack: agents see at once that the assistant wrote it."""
    name = "".join(ch for ch in persona_name if ch not in "*_`~[]") or "Assistant"
    return f"**{escape(name)}** (AI assistant)\n\n"


class SlackStream:
    """The text of one model call streamed into the conversation's Slack thread as one reply.

    Calls go out from a task of their own, at most one at a time and a few a second, so a slow Slack
    never holds up the model's stream or the widget's. Nothing is started until the first text arrives."""

    def __init__(
        self,
        gateway: SlackGateway,
        thread: SlackThread,
        recipient_user_id: str,
        label: str,
        *,
        interval: float = SLACK_INTERVAL_SECONDS,
        on_started: Callable[[str], None] | None = None,
    ) -> None:
        self.gateway = gateway
        self.thread = thread
        self.recipient_user_id = recipient_user_id
        self.label = label
        self.interval = interval
        self.on_started = on_started
        self.ts: str | None = None
        self.failed: str | None = None
        self.pending = ""
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, text: str) -> None:
        if self.failed is not None or self._closing.is_set() or not text:
            return
        self.pending += escape(text)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _send(self) -> None:
        room = SLACK_MARKDOWN_LIMIT - (len(self.label) if self.ts is None else 0)
        text, self.pending = self.pending[:room], self.pending[room:]
        if self.ts is None:
            response = await self.gateway.chat_startStream(
                channel=self.thread.channel,
                thread_ts=self.thread.thread_ts,
                recipient_team_id=self.thread.team_id,
                recipient_user_id=self.recipient_user_id,
                markdown_text=self.label + text,
            )
            self.ts = str(response["ts"])
            if self.on_started is not None:
                self.on_started(self.ts)
        elif text:
            await self.gateway.chat_appendStream(channel=self.thread.channel, ts=self.ts, markdown_text=text)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._closing.is_set():
                    return  # the rest goes with chat.stopStream
                await self._send()
                # A few calls a second at most; finishing cuts the wait short.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.interval)
        except Exception as exc:
            # Not supported here (method_not_supported_for_channel_type, not_allowed_token_type...),
            # rate limited, refused or unreachable: the answer is posted the ordinary way instead.
            self.failed = _error_of(exc)
            log.info("no Slack stream for this answer (%s): it is posted when complete", self.failed)

    async def _settle(self) -> None:
        """Lets a call in flight finish (cancelling it would leave Slack's side unknown), then stops."""
        self._closing.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def finish(self) -> str | None:
        """Stops the stream with the rest of the text: the message's ts when Slack has the whole answer."""
        await self._settle()
        try:
            while self.failed is None and (
                (self.ts is None and self.pending) or len(self.pending) > SLACK_MARKDOWN_LIMIT
            ):
                await self._send()
        except Exception as exc:
            self.failed = _error_of(exc)
        if self.ts is None:
            return None
        if self.failed is not None:
            await self.abandon()
            return None
        try:
            await self.gateway.chat_stopStream(
                channel=self.thread.channel, ts=self.ts, markdown_text=self.pending or None
            )
        except Exception as exc:
            log.warning("could not finish the Slack stream (%s): it is replaced by an ordinary post", _error_of(exc))
            await self.abandon()
            return None
        return self.ts

    async def abandon(self) -> None:
        """Takes the partial answer out of the thread (the call failed, or the text was not the answer)."""
        await self._settle()
        ts, self.ts = self.ts, None
        if ts is not None:
            await remove_partial(self.gateway, self.thread.channel, ts)


async def remove_partial(gateway: SlackGateway, channel: str, ts: str) -> None:
    """Stops and deletes a streamed message that will not be the answer (best effort: gone is fine)."""
    for call in (gateway.chat_stopStream, gateway.chat_delete):
        try:
            await call(channel=channel, ts=ts)
        except Exception as exc:
            log.info("removing a partial Slack stream: %s", _error_of(exc))


def _error_of(exc: Exception) -> str:
    """Slack's error code, or what kind of failure it was (a timeout, a connection refused)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return type(exc).__name__


def started_stream(details: Any) -> tuple[str, str] | None:
    """The Slack message an earlier attempt was streaming into, from its last heartbeat's details."""
    for item in details or ():
        if isinstance(item, dict) and isinstance(item.get("channel"), str) and isinstance(item.get("ts"), str):
            return item["channel"], item["ts"]
    return None


class Outlets:
    """Everything one model call's text streams to: the widget always, the Slack thread when it can."""

    def __init__(self, shopper: ShopperStream, slack: SlackStream | None) -> None:
        self.shopper = shopper
        self.slack = slack

    async def start(self) -> None:
        await self.shopper.typing(True)

    async def add(self, text: str) -> None:
        if text:
            await self.shopper.add(text)
            if self.slack is not None:
                self.slack.add(text)

    def details(self) -> list[dict[str, str]]:
        """What the heartbeat carries besides the offset: the Slack message being streamed into, so a
        retried attempt (on any worker) can take the partial answer out of the thread first."""
        if self.slack is None or self.slack.ts is None:
            return []
        return [{"channel": self.slack.thread.channel, "ts": self.slack.ts}]

    async def done(self, asked_for_tools: bool) -> str | None:
        """The call completed. Its text is the answer unless it asked for tools (then the next step's
        text replaces it, in the widget too, and its Slack message goes): the Slack message's ts when
        Slack has the whole answer."""
        await self.shopper.close()
        if asked_for_tools:
            if self.slack is not None:
                await self.slack.abandon()
            return None
        await self.shopper.typing(False)
        return await self.slack.finish() if self.slack is not None else None

    async def failed(self) -> None:
        """The call failed: the widget's partial text waits for the retry (which starts at offset 0)."""
        try:
            self.shopper.stop_timer()
            await self.shopper.typing(False)
            if self.slack is not None:
                await self.slack.abandon()
        except Exception:
            log.exception("could not clean up after a failed model call's stream")
