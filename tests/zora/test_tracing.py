"""OpenTelemetry: one trace from a shopper's message through the Slack post to the agent's reply, on the
real web app, worker, Redis and Temporal; nothing at all unless configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.harness import AGENT, CHANNEL, running_zora
from tests.helpers import serving
from zora import tracing
from zora.settings import Settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_off_by_default() -> None:
    assert tracing.setup_tracing(_settings()) is None
    assert not tracing.enabled()
    assert tracing.temporal_interceptors() == []


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(_settings(otel_service_name="zora-test"), exporter=exporter) is not None
    try:
        yield exporter
    finally:
        tracing.stop_tracing()


async def test_one_trace_from_shopper_message_to_agent_reply(
    infra: Any, database_url: str, spans: InMemorySpanExporter
) -> None:
    async with running_zora(infra, database_url) as zora:
        shopper = await zora.shopper()
        assert (await shopper.send("Where is my order?"))["ok"]
        root, _reply = await zora.standin.wait_for_posts(2)
        await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "It ships tomorrow.", user=AGENT) == 200
        await shopper.wait_for(lambda: len(shopper.agent_messages()) == 1)

    finished = spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    message = by_name["zora.shopper_message"]
    assert len(message) == 1
    trace_id = message[0].context.trace_id
    in_trace = {span.name for span in finished if span.context.trace_id == trace_id}
    assert {"zora.shopper_message", "zora.relay", "slack chat.postMessage", "zora.agent_reply"} <= in_trace
    reply = by_name["zora.agent_reply"][0]
    assert reply.parent is not None and reply.parent.trace_id == trace_id
    assert reply.resource.attributes["service.name"] == "zora-test"
    # The conversation's workflow, started off the message's path, is traced by Temporal's interceptor.
    assert any(span.name.startswith(("StartWorkflow:", "SignalWithStartWorkflow:")) for span in finished), sorted(
        by_name
    )


async def test_spans_are_exported_by_otlp_when_an_endpoint_is_set() -> None:
    import asyncio

    from aiohttp import web

    received: list[tuple[str, str, bytes]] = []

    async def collector(request: web.Request) -> web.Response:
        received.append((request.path, request.headers.get("Content-Type", ""), await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collector)
    async with serving(app) as url:
        settings = _settings(otel_exporter_otlp_endpoint=f"{url}/", otel_service_name="zora-otlp")
        assert tracing.setup_tracing(settings) is not None
        with tracing.tracer().start_as_current_span("zora.otlp_check"):
            pass
        # Shutting down flushes the batch; the exporter's HTTP call blocks, so off the loop.
        await asyncio.to_thread(tracing.stop_tracing)
    assert [(path, kind) for path, kind, _ in received] == [("/v1/traces", "application/x-protobuf")]
    assert b"zora.otlp_check" in received[0][2] and b"zora-otlp" in received[0][2]
