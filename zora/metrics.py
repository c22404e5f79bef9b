"""Prometheus metrics of the web and worker processes, in one place.

Every label takes values from a small fixed set (an outcome, a rule name, an API method, an error code
from the provider's own vocabulary). Never a shop, a conversation or a shopper: those are unbounded, and
each new value would be a new time series in the operator's Prometheus.

The web app answers `GET /metrics` (guarded by METRICS_TOKEN in production); `METRICS_PORT` opens a plain
HTTP endpoint instead, which is how `zora worker` is scraped. The Temporal SDK reports workflow and
activity metrics on its own endpoint (TEMPORAL_METRICS_PORT): see `temporal_runtime`.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import ClientError, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from zora import tracing
from zora.settings import Settings

# A `_created` timestamp beside every counter and histogram doubles the series and no dashboard reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Latency buckets in seconds: the relay's target is 0.1 s at p99, the webhook ack's 0.05 s; Shopify and
# Slack give up at 5 s and 3 s.
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SOCKETS_CONNECTED = Gauge(
    "zora_sockets_connected", "Widget sockets connected to this web process (authenticated, not yet disconnected)."
)
SHOPPER_MESSAGES = Counter(
    "zora_shopper_messages_total",
    "Shopper messages by stage: received (a message event), stored (new, committed to PostgreSQL).",
    ["stage"],
)
SLACK_POSTS = Counter(
    "zora_slack_posts_total", "Shopper messages posted into their Slack thread (fast path and workflow alike)."
)
RELAY_SECONDS = Histogram(
    "zora_relay_seconds",
    "Fast path, shopper to Slack: from the shopper's message stored to Slack accepting its post.",
    buckets=_FAST_BUCKETS,
)
AGENT_REPLIES = Counter(
    "zora_agent_replies_total", "Agent replies from Slack stored and pushed to the shopper's widget."
)
WEBHOOK_SECONDS = Histogram(
    "zora_webhook_ack_seconds",
    "Shopify webhook deliveries: from the request to Zora's answer (Shopify allows 5 s).",
    buckets=_FAST_BUCKETS,
)
WEBHOOK_DELIVERIES = Counter(
    "zora_webhook_deliveries_total",
    "Shopify webhook deliveries by outcome (accepted, duplicate, ignored, invalid_hmac, rate_limited, busy, ...).",
    ["outcome"],
)
SLACK_API_ERRORS = Counter(
    "zora_slack_api_errors_total",
    "Slack Web API calls that failed, by method and Slack's error code (ratelimited for 429; timeout and"
    " connection when Slack was not reached).",
    ["method", "error"],
)
SHOPIFY_API_ERRORS = Counter(
    "zora_shopify_api_errors_total",
    "Shopify Admin API answers that were errors, by code: http_<status>, the GraphQL error's code"
    " (THROTTLED, ACCESS_DENIED, ...), or unavailable when Shopify was not reached.",
    ["code"],
)
RATE_LIMITED = Counter(
    "zora_rate_limited_total", "Requests refused by a rate limit, by rule (the RATE_* setting's name).", ["rule"]
)
# What an error code from a provider may look like before it becomes a label value; anything else is
# counted as "other" so a malformed answer cannot mint new series.
_CODE = re.compile(r"[A-Za-z0-9_.]{1,48}")
_OUTCOMES = frozenset(
    {
        "accepted",
        "duplicate",
        "ignored",
        "unsupported",
        "invalid_hmac",
        "bad_headers",
        "bad_body",
        "shop_mismatch",
        "rate_limited",
        "too_large",
        "not_configured",
        "busy",
    }
)


def label(value: object) -> str:
    text = str(value)
    return text if _CODE.fullmatch(text) else "other"


class _Stored(Protocol):
    seq: int
    created_at: datetime


def observe_relay(batch: Iterable[_Stored], delivered: Iterable[int]) -> None:
    """Each delivered message's time from being stored to Slack's acceptance."""
    done = set(delivered)
    now = datetime.now(UTC)
    for message in batch:
        if message.seq in done:
            RELAY_SECONDS.observe(max(0.0, (now - message.created_at).total_seconds()))


async def observe_webhook(answer: Awaitable[web.Response]) -> web.Response:
    """Times a webhook request's handling and counts its outcome (the `status` of Zora's JSON answer)."""
    start = time.perf_counter()
    response = await answer
    WEBHOOK_SECONDS.observe(time.perf_counter() - start)
    outcome = "other"
    try:
        body = json.loads(response.body) if isinstance(response.body, bytes) else {}
        status = body.get("status") if isinstance(body, dict) else None
        if status in _OUTCOMES:
            outcome = str(status)
    except ValueError:
        pass
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    return response


def shopify_answer(status: int, body: Any) -> None:
    """Counts an Admin API answer's errors: the HTTP status, else each GraphQL error's code."""
    if status >= 400:
        SHOPIFY_API_ERRORS.labels(f"http_{status}").inc()
        return
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors if isinstance(errors, list) else []:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        SHOPIFY_API_ERRORS.labels(label(code) if code else "graphql").inc()


class MeteredWebClient(AsyncWebClient):
    """The Slack client every part of Zora shares, counting failed calls by method and error code.

    One place for every call (posts, uploads, reactions, views, bolt's own), so no failure is missed."""

    async def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        if tracing.enabled():
            with tracing.tracer().start_as_current_span(f"slack {label(api_method)}"):
                return await self._counted(api_method, *args, **kwargs)
        return await self._counted(api_method, *args, **kwargs)

    async def _counted(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            error = "ratelimited" if exc.response.status_code == 429 else exc.response.get("error", "unknown")
            SLACK_API_ERRORS.labels(label(api_method), label(error)).inc()
            raise
        except TimeoutError:
            SLACK_API_ERRORS.labels(label(api_method), "timeout").inc()
            raise
        except ClientError:
            SLACK_API_ERRORS.labels(label(api_method), "connection").inc()
            raise


def metrics_response() -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def metrics_handler(settings: Settings, *, dev: bool) -> Any:
    """`GET /metrics` on the web app. With METRICS_TOKEN set it wants `Authorization: Bearer <token>`;
    without one it exists only in `zora dev` (a production web port is public, and the numbers tell
    competitors and attackers about traffic): use METRICS_TOKEN or METRICS_PORT there."""
    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    async def handler(request: web.Request) -> web.Response:
        if token is None:
            if not dev:
                raise web.HTTPNotFound(text="set METRICS_TOKEN (or scrape METRICS_PORT) to read metrics")
            return metrics_response()
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].strip().encode(), token):
            return web.Response(status=401, text="metrics need Authorization: Bearer <METRICS_TOKEN>")
        return metrics_response()

    return handler


def start_metrics_server(settings: Settings) -> int | None:
    """The plain HTTP endpoint on METRICS_HOST:METRICS_PORT (a thread of prometheus_client's); the port
    it listens on, or None when METRICS_PORT is unset."""
    if settings.metrics_port is None:
        return None
    server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host)
    return int(server.server_port)


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime whose SDK serves its own Prometheus metrics (workflow and activity task
    latencies, failures, slots, pollers: the temporal_* names) on METRICS_HOST:TEMPORAL_METRICS_PORT, or
    None when that port is unset. Durations in seconds, like Zora's own histograms."""
    if settings.temporal_metrics_port is None:
        return None
    bind = f"{settings.metrics_host}:{settings.temporal_metrics_port}"
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=bind, counters_total_suffix=True, durations_as_seconds=True)
        )
    )


def start_process_metrics(settings: Settings) -> None:
    """For `zora web` and `zora worker`, before any Temporal client is made: METRICS_PORT's endpoint and
    the Temporal SDK's (the runtime must be the default before the first client connects)."""
    start_metrics_server(settings)
    runtime = temporal_runtime(settings)
    if runtime is not None:
        Runtime.set_default(runtime)
