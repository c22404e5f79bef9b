"""Turning raw timestamps into the numbers the relay benchmark reports."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Latency:
    """Milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000.0 for s in seconds]
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms) if ms else math.nan,
        )


@dataclass
class ClientRecord:
    """What the load process saw for one shopper message (monotonic seconds, shared by all processes)."""

    scheduled: float
    sent: float
    acked: float | None = None
    ack_ok: bool | None = None
    replies: list[float] = field(default_factory=list)
    opening: bool = False  # the shopper's first message, sent before the phase (it opens the conversation)


@dataclass
class ServerRecord:
    """What the Slack stand-in saw for one shopper message."""

    posted: list[float] = field(default_factory=list)
    delivered: list[float] = field(default_factory=list)
    delivery_failures: int = 0


@dataclass
class PhaseResult:
    system: str
    shoppers: int
    rate_per_shopper: float
    offered: float  # shopper messages/s, all shoppers
    window: float  # measured seconds (warm-up excluded)
    sent: int  # every message sent in the phase, warm-up included (openings not)
    measured: int  # messages sent inside the window
    sent_rate: float  # messages/s the load process actually sent inside the window
    max_send_lag_ms: float  # how far the load process fell behind its schedule
    to_slack: Latency
    to_shopper: Latency
    ack: Latency
    open_to_slack: Latency  # each shopper's first message, which opens a conversation (sent before the phase)
    open_to_shopper: Latency
    throughput: float  # measured round trips completed per second
    lost_to_slack: int
    lost_to_shopper: int
    undelivered_events: int  # agent replies the stand-in could not deliver (non-2xx or timeout)
    ack_errors: int
    dup_to_slack: int
    dup_to_shopper: int
    connect_errors: int
    disconnects: int
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.lost_to_slack + self.lost_to_shopper

    @property
    def duplicated(self) -> int:
        return self.dup_to_slack + self.dup_to_shopper

    def sustained(self, p99_limit_ms: float = 1000.0) -> bool:
        """Kept up: p99 both ways under the limit, nothing lost or doubled, throughput near the offer."""
        return (
            self.measured > 0
            and self.to_slack.p99 < p99_limit_ms
            and self.to_shopper.p99 < p99_limit_ms
            and self.lost == 0
            and self.duplicated == 0
            and self.ack_errors == 0
            and self.undelivered_events == 0
            and self.throughput >= 0.9 * self.offered
        )


@dataclass
class _Tally:
    """A phase's counts over every message, and the latencies (seconds) of those inside the measured window."""

    window_start: float
    window_end: float
    to_slack: list[float] = field(default_factory=list)
    to_shopper: list[float] = field(default_factory=list)
    ack: list[float] = field(default_factory=list)
    warm_slack: list[float] = field(default_factory=list)
    warm_shopper: list[float] = field(default_factory=list)
    lost_to_slack: int = 0
    lost_to_shopper: int = 0
    undelivered: int = 0
    ack_errors: int = 0
    dup_to_slack: int = 0
    dup_to_shopper: int = 0
    measured: int = 0
    last_completion: float = field(init=False)  # the window start until a later completion
    max_lag: float = 0.0

    def __post_init__(self) -> None:
        self.last_completion = self.window_start

    def add(self, rec: ClientRecord, srv: ServerRecord) -> None:
        # Loss and duplication are counted over every message, warm-up included.
        if rec.ack_ok is False:
            self.ack_errors += 1
        if not srv.posted:
            self.lost_to_slack += 1
        elif len(srv.posted) > 1:
            self.dup_to_slack += 1
        if srv.delivery_failures:
            self.undelivered += 1
        # The stand-in answers every thread post, so a post without a reply at the shopper is a loss.
        if srv.posted and not rec.replies:
            self.lost_to_shopper += 1
        if len(rec.replies) > 1:
            self.dup_to_shopper += 1
        if rec.opening:
            if srv.posted:
                self.warm_slack.append(srv.posted[0] - rec.sent)
            if srv.delivered and rec.replies:
                self.warm_shopper.append(rec.replies[0] - srv.delivered[0])
            return
        if not self.window_start <= rec.scheduled < self.window_end:
            return
        self.measured += 1
        self.max_lag = max(self.max_lag, rec.sent - rec.scheduled)
        if srv.posted:
            self.to_slack.append(srv.posted[0] - rec.sent)
        if srv.delivered and rec.replies:
            self.to_shopper.append(rec.replies[0] - srv.delivered[0])
            self.last_completion = max(self.last_completion, rec.replies[0])
        if rec.acked is not None:
            self.ack.append(rec.acked - rec.sent)


def summarise(
    *,
    system: str,
    shoppers: int,
    rate_per_shopper: float,
    window_start: float,
    window_end: float,
    clients: Mapping[str, ClientRecord],
    server: Mapping[str, ServerRecord],
    connect_errors: int,
    disconnects: int,
) -> PhaseResult:
    tally = _Tally(window_start, window_end)
    for msg_id, rec in clients.items():
        tally.add(rec, server.get(msg_id) or ServerRecord())
    window = window_end - window_start
    completed = len(tally.to_shopper)
    # Completions over the time it took to complete them: a system that falls behind stretches the span.
    span = max(window, tally.last_completion - window_start)
    sent_in_window = sum(1 for r in clients.values() if not r.opening and window_start <= r.sent < window_end)
    return PhaseResult(
        system=system,
        shoppers=shoppers,
        rate_per_shopper=rate_per_shopper,
        offered=shoppers * rate_per_shopper,
        window=window,
        sent=sum(1 for r in clients.values() if not r.opening),
        measured=tally.measured,
        sent_rate=sent_in_window / window if window > 0 else 0.0,
        max_send_lag_ms=tally.max_lag * 1000.0,
        to_slack=Latency.of(tally.to_slack),
        to_shopper=Latency.of(tally.to_shopper),
        ack=Latency.of(tally.ack),
        open_to_slack=Latency.of(tally.warm_slack),
        open_to_shopper=Latency.of(tally.warm_shopper),
        throughput=completed / span if span > 0 else 0.0,
        lost_to_slack=tally.lost_to_slack,
        lost_to_shopper=tally.lost_to_shopper,
        undelivered_events=tally.undelivered,
        ack_errors=tally.ack_errors,
        dup_to_slack=tally.dup_to_slack,
        dup_to_shopper=tally.dup_to_shopper,
        connect_errors=connect_errors,
        disconnects=disconnects,
    )


def as_dict(result: PhaseResult) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(result)
    data["lost"] = result.lost
    data["duplicated"] = result.duplicated
    data["sustained"] = result.sustained()
    return data
