"""llm_complete against the model stand-in, run as Temporal runs it (ActivityEnvironment, heartbeats
captured): each way a provider answers or fails becomes the right result or ApplicationError."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities, retry_after_seconds
from tests.conftest import fixtures_dir
from zora.assistant import ChatMessage, LlmRequest, LlmResult, ToolSpec
from zora.settings import load_settings
from zora.standins.openai import GREETING, OpenAIStandIn

ORDER_TOOL = ToolSpec(
    name="order_status",
    description="Status and tracking of one of the shopper's orders",
    parameters={"type": "object", "properties": {"order_number": {"type": "string"}}, "required": ["order_number"]},
)
POLICY_TOOL = ToolSpec(name="store_policies", description="The store's policies and FAQ")


@pytest.fixture
async def standin() -> AsyncIterator[OpenAIStandIn]:
    server = OpenAIStandIn(api_key="sk-test")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_activities(standin: OpenAIStandIn, **overrides: Any) -> LlmActivities:
    values: dict[str, Any] = {
        "openai_base_url": standin.base_url,
        "openai_api_key": "sk-test",
        "openai_model": "zora-demo",
        "openai_timeout_seconds": 30,
        **overrides,
    }
    return LlmActivities(load_settings(_env_file=None, **values))


@pytest.fixture
async def llm(standin: OpenAIStandIn) -> AsyncIterator[LlmActivities]:
    activities = make_activities(standin)
    try:
        yield activities
    finally:
        await activities.close()


class Run:
    """One activity run with its heartbeats."""

    def __init__(self) -> None:
        self.env = ActivityEnvironment()
        self.beats: list[int] = []
        self.beat = asyncio.Event()

        def on_heartbeat(*details: Any) -> None:
            self.beats.append(details[0])
            self.beat.set()

        self.env.on_heartbeat = on_heartbeat

    async def __call__(self, llm: LlmActivities, request: LlmRequest) -> LlmResult:
        result: LlmResult = await self.env.run(llm.complete, request)
        return result


def ask(text: str, *tools: ToolSpec) -> LlmRequest:
    return LlmRequest(turn_id="turn:test:1", messages=[ChatMessage(role="user", content=text)], tools=list(tools))


async def failure(llm: LlmActivities, request: LlmRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await Run()(llm, request)
    return info.value


# --------------------------------------------------------------------------- answers


async def test_a_streamed_text_answer_with_heartbeats_and_tokens(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    run = Run()
    result = await run(llm, ask("hello"))
    assert result.content == GREETING and result.tool_calls == [] and result.finish_reason == "stop"
    assert result.model == "zora-demo"
    assert result.usage_reported and result.prompt_tokens > 0 and result.completion_tokens > 0
    # The call streamed, with the usage asked for, and the SDK's retries could not hide anything.
    assert standin.requests[-1]["stream"] is True
    assert standin.requests[-1]["stream_options"] == {"include_usage": True}
    # A heartbeat per chunk, carrying how far the answer has come.
    assert len(run.beats) >= len(GREETING) // standin.chunk_size
    assert run.beats == sorted(run.beats) and run.beats[-1] == len(GREETING)


async def test_tool_calls_are_put_together_from_their_fragments(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    run = Run()
    result = await run(llm, ask("Where is my order #1001, and what is your return policy?", ORDER_TOOL, POLICY_TOOL))
    assert result.finish_reason == "tool_calls" and result.content == ""
    assert [(c.name, c.parsed_arguments(), c.arguments_error) for c in result.tool_calls] == [
        ("order_status", {"order_number": "#1001"}, None),
        ("store_policies", {}, None),
    ]
    assert all(c.id.startswith("call_") for c in result.tool_calls)
    sent = standin.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["order_status", "store_policies"]
    # The answer goes back into the conversation in the wire format the endpoint accepts.
    message = result.as_message().wire()
    assert [c["function"]["arguments"] for c in message["tool_calls"]] == [c.arguments for c in result.tool_calls]
    assert run.beats[-1] == sum(len(c.arguments) for c in result.tool_calls)


async def test_a_recorded_provider_stream(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    recorded = (fixtures_dir("openai") / "chat-completion-stream-tool-calls-parallel.txt").read_bytes()
    standin.replay_next(recorded)
    result = await Run()(llm, ask("anything", ORDER_TOOL))
    assert [(c.id, c.name, c.parsed_arguments()) for c in result.tool_calls] == [
        ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}),
        ("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}),
    ]
    assert (result.prompt_tokens, result.completion_tokens, result.total_tokens) == (149, 60, 209)
    assert result.model == "gpt-4o-2024-08-06"


async def test_malformed_arguments_come_back_marked_not_raised(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    standin.fail_next("malformed_tool_call")
    result = await Run()(llm, ask("Where is order #1001?", ORDER_TOOL))
    [call] = result.tool_calls
    assert call.arguments == '{"order_number": "#1001", '  # verbatim, to show the model what it sent
    assert call.arguments_error is not None and "not valid JSON" in call.arguments_error
    assert result.malformed == [call]
    with pytest.raises(ValueError, match="not valid JSON"):
        call.parsed_arguments()


async def test_without_usage_the_tokens_are_estimated(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "local",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    # A local server that ignores stream_options and sends no call ids.
    tool_head = {"tool_calls": [{"index": 0, "function": {"name": "order_status", "arguments": '{"order_number"'}}]}
    tool_rest = {"tool_calls": [{"index": 0, "function": {"arguments": ': "#7"}'}}]}
    standin.replay_next(
        event({"role": "assistant"})
        + event(tool_head)
        + event(tool_rest)
        + event({}, "tool_calls")
        + b"data: [DONE]\n\n"
    )
    request = ask("Where is order #7?", ORDER_TOOL).model_copy(update={"step": 3})
    result = await Run()(llm, request)
    assert not result.usage_reported and result.prompt_tokens > 0 and result.completion_tokens > 0
    [call] = result.tool_calls
    assert call.id == "call_3_0" and call.parsed_arguments() == {"order_number": "#7"}


# --------------------------------------------------------------------------- failures, in Temporal's terms


async def test_429_waits_what_retry_after_says(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    standin.fail_next("rate_limit", retry_after=7)
    error = await failure(llm, ask("hello"))
    assert error.type == "LlmRateLimited" and not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)
    # Exactly one request: the SDK did not retry behind Temporal's back.
    assert len(standin.requests) == 1


async def test_5xx_is_retried(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    standin.fail_next("server_error")
    error = await failure(llm, ask("hello"))
    assert error.type == "LlmServerError" and not error.non_retryable and error.next_retry_delay is None
    assert len(standin.requests) == 1


async def test_a_hang_times_out_and_is_retried(standin: OpenAIStandIn) -> None:
    llm = make_activities(standin, openai_timeout_seconds=0.5)
    try:
        standin.fail_next("hang")
        error = await failure(llm, ask("hello"))
        assert error.type == "LlmTimeout" and not error.non_retryable
        # Mid-stream: the heartbeats so far were sent, then the read timed out.
        standin.fail_next("hang", after_chunks=3)
        run = Run()
        with pytest.raises(ApplicationError) as info:
            await run(llm, ask("hello"))
        assert info.value.type == "LlmTimeout" and not info.value.non_retryable
        # One before the request, one per chunk received.
        assert run.beats[0] == 0 and len(run.beats) == 1 + 3
    finally:
        standin.release()
        await llm.close()


async def test_a_stream_cut_short_is_not_used(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    standin.fail_next("hang", after_chunks=2)
    run = Run()
    task = asyncio.create_task(run(llm, ask("hello")))
    while len(run.beats) < 1 + 2:
        run.beat.clear()
        await asyncio.wait_for(run.beat.wait(), timeout=30)
    # The connection ends without the last chunk and [DONE]: half an answer is no answer.
    standin.release()
    with pytest.raises(ApplicationError) as info:
        await asyncio.wait_for(task, timeout=30)
    assert info.value.type == "LlmStreamCut" and not info.value.non_retryable


async def test_refusals_are_not_retried(standin: OpenAIStandIn) -> None:
    wrong_key = make_activities(standin, openai_api_key="sk-wrong")
    wrong_url = make_activities(standin, openai_base_url=standin.base_url + "/nowhere")
    right = make_activities(standin)
    try:
        error = await failure(wrong_key, ask("hello"))
        assert error.type == "LlmRefused" and error.non_retryable and "401" in error.message
        error = await failure(wrong_url, ask("hello"))
        assert error.type == "LlmRefused" and error.non_retryable and "404" in error.message
        orphan = LlmRequest(
            turn_id="t",
            messages=[ChatMessage(role="user", content="hi"), ChatMessage(role="tool", tool_call_id="x", content="{}")],
        )
        error = await failure(right, orphan)
        assert error.type == "LlmRefused" and error.non_retryable and "400" in error.message
    finally:
        for activities in (wrong_key, wrong_url, right):
            await activities.close()


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (408, True),
        (409, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
async def test_each_status_is_classified(
    status: int, retried: bool, llm: LlmActivities, standin: OpenAIStandIn
) -> None:
    standin.fail_next("status", status=status)
    error = await failure(llm, ask("hello"))
    assert error.non_retryable is not retried and str(status) in error.message
    assert len(standin.requests) == 1


async def test_429_without_retry_after_or_with_odd_ones(llm: LlmActivities, standin: OpenAIStandIn) -> None:
    # No retry-after: Temporal's own backoff; a huge one is capped, zero still waits a little.
    for header, delay in ((None, None), (86400, timedelta(seconds=600)), (0, timedelta(seconds=1))):
        standin.fail_next("rate_limit", retry_after=header)
        error = await failure(llm, ask("hello"))
        assert error.type == "LlmRateLimited" and not error.non_retryable and error.next_retry_delay == delay


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "9"}) == 9.0
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    now = retry_after_seconds({"retry-after": formatdate(timeval=None, usegmt=True)})
    assert now is not None and now <= 1
