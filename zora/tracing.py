"""OpenTelemetry traces along a conversation's path, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.

One trace follows a shopper's message: the socket event (`zora.shopper_message`), the fast path's post
(`zora.relay`) and its Slack calls (`slack chat.postMessage`), or, after a failure, the signal, the
conversation workflow and its activities (Temporal's TracingInterceptor carries the context through
Temporal); then the agent's answer from Slack (`zora.agent_reply`). The answer comes in on a request of
its own, maybe on another web node, so the message's trace context is kept in Redis per conversation
(`zora:trace:{conversation}`, a day) and the reply's span joins that trace.

Disabled, every helper here is a no-op: no span is recorded and Redis is not touched.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from zora.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

TRACE_KEY_TTL_SECONDS = 86400
_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    # Zora's own provider when set: OpenTelemetry's global one can be set only once per process.
    return _provider.get_tracer("zora") if _provider is not None else trace.get_tracer("zora")


def setup_tracing(settings: Settings, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Installs the process's tracer provider when OTEL_EXPORTER_OTLP_ENDPOINT is set (spans go there by
    OTLP over HTTP, in batches) or an exporter is given (tests: spans exported as they end). Call before
    the Temporal client connects: its tracing interceptor is added only when tracing is on."""
    global _provider
    endpoint = settings.otel_exporter_otlp_endpoint
    if exporter is None and endpoint is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert endpoint is not None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def stop_tracing() -> None:
    """Flushes and ends tracing (the end of the process, or of a test)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def temporal_interceptors() -> list[Any]:
    """The Temporal client's interceptors: the tracing one when tracing is on (workers built on that
    client trace workflows and activities too)."""
    if not enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer())]


def traced(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """A span around a coroutine function, current while it runs (tasks it starts inherit it)."""

    def wrap(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if not enabled():
                return await fn(*args, **kwargs)
            with tracer().start_as_current_span(name):
                return await fn(*args, **kwargs)

        return run

    return wrap


async def remember(redis: Any, conversation_id: UUID) -> None:
    """Keeps the current trace's context as the conversation's, for the agent's reply to join."""
    if not enabled():
        return
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if "traceparent" in carrier:
        await redis.set(f"zora:trace:{conversation_id}", carrier["traceparent"], ex=TRACE_KEY_TTL_SECONDS)


async def agent_reply(redis: Any, conversation_id: UUID, started: datetime) -> None:
    """A span for an agent's reply, from `started` to now, in the trace of the conversation's latest
    shopper message (a trace of its own when there is none)."""
    if not enabled():
        return
    parent = otel_context.Context()
    traceparent = await redis.get(f"zora:trace:{conversation_id}")
    if traceparent:
        value = traceparent.decode() if isinstance(traceparent, bytes) else str(traceparent)
        parent = _propagator.extract({"traceparent": value})
    span = tracer().start_span("zora.agent_reply", context=parent, start_time=_nanos(started))
    span.set_attribute("zora.conversation_id", str(conversation_id))
    span.end()


def _nanos(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() * 1_000_000_000)
