"""The Slack stand-in as the chaos run needs it: agent replies to every shopper post, Slack's event retries,
and Web API calls that misbehave on demand."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.chaos.config import (
    AGENT,
    BOT_TOKEN,
    CHANNEL,
    MARK,
    SIGNING_SECRET,
)
from zora.standins.slack import SlackStandIn


class ChaosSlack(SlackStandIn):
    """The Slack stand-in as the run needs it: every shopper post in a thread gets an agent reply naming
    it; a failed event delivery is retried as Slack retries (same event id, X-Slack-Retry-Num); and while
    `failure_rate` is above 0 that share of Web API calls misbehave in one of Slack's ways."""

    def __init__(self, rng: random.Random, *, hang: float, event_retries: tuple[float, ...]) -> None:
        super().__init__(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, auto_reply=self._answer)
        self.add_channel(CHANNEL, "support")
        self.add_user(AGENT, "ada", "Ada Agent")
        self.rng = rng
        self.hang_seconds = hang
        self.event_retries = event_retries
        self.failure_rate = 0.0
        self.injected: Counter[str] = Counter()
        # Agent replies Slack holds, by text ("re s3-m1"); what every shopper must end up with.
        self.replies: Counter[str] = Counter()
        self.events_failed = 0  # deliveries that failed (each is retried)
        self.events_given_up = 0  # events whose every retry failed too
        # Event id -> the outcome of each delivery attempt, for events that needed more than one.
        self.event_outcomes: dict[str, list[str]] = {}
        self._event_serial = 0

    @staticmethod
    def _answer(message: dict[str, Any]) -> str | None:
        found = MARK.search(str(message.get("text", "")))
        return f"re {found.group(1)}" if found and message.get("user") != AGENT else None

    async def agent_reply(
        self, channel: str, thread_ts: str, text: str, user: str = AGENT, *, deliver: bool = True
    ) -> int:
        self.replies[text] += 1
        return await super().agent_reply(channel, thread_ts, text, user, deliver=deliver)

    def inject(self, method: str, kind: str) -> None:
        """Queue one misbehaviour of `kind` for the next call of `method`."""
        self.injected[kind] += 1
        if kind == "429":
            self.rate_limit(method, retry_after=self.rng.choice((1, 2, 3)))
        elif kind == "500":
            self.server_error(method, status=self.rng.choice((500, 503)))
        elif kind == "500_after_work":
            self.server_error(method, carried_out=True)
        elif kind == "timeout":
            self.hang(method, self.hang_seconds)
        elif kind == "connection_lost":
            self.lose_answers(method)
        else:
            raise ValueError(kind)

    async def _handle_api(self, request: Any) -> Any:
        if self.failure_rate > 0 and self.rng.random() < self.failure_rate:
            kind = self.rng.choices(("429", "500", "500_after_work", "timeout", "connection_lost"), (4, 2, 2, 1, 1))[0]
            self.inject(request.match_info["method"], kind)
        return await super()._handle_api(request)

    async def deliver_event(self, event: dict[str, Any], **options: Any) -> int:
        """The stand-in's delivery, retried as Slack retries a failed one (a retry asked for by the
        caller, with `retry_num`, goes out once as it is)."""
        if options.get("retry_num") is not None:
            return await super().deliver_event(event, **options)
        event_id: str | None = options.get("event_id")
        if event_id is None:
            self._event_serial += 1
            event_id = f"EvCHAOS{self._event_serial:07d}"
        status, reason = 0, "unknown_error"
        for attempt in range(len(self.event_retries) + 1):
            if attempt:
                self.events_failed += 1
                await asyncio.sleep(self.event_retries[attempt - 1])
            outcomes = self.event_outcomes.setdefault(event_id, [])
            try:
                status = await super().deliver_event(
                    event, event_id=event_id, retry_num=attempt or None, retry_reason=reason
                )
            except TimeoutError:
                outcomes.append(f"{time.strftime('%H:%M:%S')} timeout")
                reason = "http_timeout"
                continue
            except aiohttp.ClientError as exc:
                outcomes.append(f"{time.strftime('%H:%M:%S')} {type(exc).__name__}")
                reason = "unknown_error"
                continue
            outcomes.append(f"{time.strftime('%H:%M:%S')} {status}")
            if 200 <= status < 300:
                if len(outcomes) == 1:
                    del self.event_outcomes[event_id]
                return status
            reason = "http_error"
        self.events_given_up += 1
        return status

    def shopper_posts(self) -> list[tuple[str, int, str]]:
        """(conversation id, seq, text) of every post whose metadata names a shopper message, in the
        order Slack took them."""
        found = []
        for post in self.posted:
            metadata = post.get("metadata")
            if not isinstance(metadata, dict) or metadata.get("event_type") != "zora_message":
                continue
            payload = metadata.get("event_payload") or {}
            found.append((str(payload.get("conversation_id")), int(payload.get("seq", -1)), str(post.get("text"))))
        return found
