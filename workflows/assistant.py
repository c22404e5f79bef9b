"""AssistantTurnWorkflow `turn:{conversation}:{seq}`: the assistant's answer to one shopper message.

A turn loops at most `max_steps` times: an `llm_complete` activity (the model, streamed, heartbeating),
then the tools it asked for, each its own activity, run in parallel. It ends with the model's text, or
without one when the steps run out or the model call fails for good (the caller then hands over to a
person). Temporal owns retries: the model call's policy is here, its classification in the activity
(429 waits Retry-After, 5xx and timeouts retry, other 4xx do not).

Tool calls the model garbles (arguments that are not a JSON object, a tool that does not exist) are not
run: the model is told what was wrong, once; garbled again, the turn stops.

Started by ConversationWorkflow (workflows/conversation_assistant.py) with ids only: the turn then reads
the conversation, the shop's choices and its daily budget from PostgreSQL (over budget: it hands over
without calling the model). The model may call `hand_over` (handled here, no activity): the turn ends
"handed_over" with its reason. The turn returns its answer; storing, posting and the audit are the
caller's, and so is cancelling it (a newer shopper message, a person taking over).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.calls import ASSISTANT_TURN_CONTEXT_CALL, LLM_COMPLETE_CALL, TOOL_CALLS
from zora.assistant import (
    HAND_OVER_TOOL,
    TOOLS_BY_NAME,
    ChatMessage,
    LlmRequest,
    LlmResult,
    StreamTarget,
    ToolCall,
    ToolInput,
    ToolRecord,
    ToolSpec,
    TurnInput,
    TurnResult,
    system_prompt,
)
from zora.assistant_turns import TurnContextRequest


def _error(text: str) -> str:
    return json.dumps({"error": text})


def _handed_over(answer: LlmResult, result: TurnResult, step: int) -> bool:
    """The model called hand_over: the turn ends there (the other calls of that answer are not run)."""
    for call in answer.tool_calls:
        if call.name != HAND_OVER_TOOL.name:
            continue
        reason = ""
        if call.arguments_error is None:
            value = call.parsed_arguments().get("reason")
            reason = value.strip()[:300] if isinstance(value, str) else ""
        result.outcome = "handed_over"
        result.reason = reason or "the assistant asked for a person"
        result.tools.append(ToolRecord(step=step, name=call.name, arguments=call.arguments, content=""))
        return True
    return False


def _tools(offer_hand_over: bool) -> list[ToolSpec]:
    tools = [spec for spec, _activity in TOOLS_BY_NAME.values()]
    if offer_hand_over:
        # Turns a conversation starts may hand over (turns given their history are tests' and the
        # recorded ones', which never offered it).
        tools.append(HAND_OVER_TOOL)
    return tools


@workflow.defn(name="AssistantTurnWorkflow")
class AssistantTurnWorkflow:
    @workflow.run
    async def run(self, turn: TurnInput) -> TurnResult:
        turn_id = workflow.info().workflow_id
        if turn.history:
            return await self._loop(turn_id, turn, offer_hand_over=False)
        context = await ASSISTANT_TURN_CONTEXT_CALL.run(
            TurnContextRequest(shop_id=turn.shop_id, conversation_id=turn.conversation_id, seq=turn.seq)
        )
        if context.over_budget is not None:
            return TurnResult(outcome="handed_over", reason=context.over_budget, steps=0)
        if not context.history:
            return TurnResult(outcome="failed", reason="the conversation has no message to answer", steps=0)
        turn = turn.model_copy(
            update={
                "history": context.history,
                "persona_name": context.persona_name,
                "instructions": context.instructions,
                "max_steps": context.max_steps,
            }
        )
        return await self._loop(turn_id, turn, offer_hand_over=True)

    async def _loop(self, turn_id: str, turn: TurnInput, *, offer_hand_over: bool) -> TurnResult:
        messages = [
            ChatMessage(role="system", content=system_prompt(turn.persona_name, turn.instructions)),
            *turn.history,
        ]
        tools = _tools(offer_hand_over)
        stream_to = StreamTarget(shop_id=turn.shop_id, conversation_id=turn.conversation_id) if turn.stream else None
        result = TurnResult(outcome="failed", steps=0)
        told_about_garbled_calls = False
        llm_complete = dataclasses.replace(
            LLM_COMPLETE_CALL,
            # The SDK's own timeout ends a silent call first; this one bounds a slow stream.
            start_to_close_timeout=timedelta(seconds=turn.llm_timeout_seconds * 2),
            heartbeat_timeout=timedelta(seconds=turn.llm_timeout_seconds),
        )
        for step in range(1, turn.max_steps + 1):
            result.steps = step
            try:
                answer = await llm_complete.run(
                    LlmRequest(
                        turn_id=turn_id,
                        step=step,
                        messages=messages,
                        tools=tools,
                        model=turn.model,
                        stream_to=stream_to,
                    )
                )
            except ActivityError as exc:
                if isinstance(exc.cause, CancelledError):
                    raise  # the turn itself is cancelled (a newer message, a person): it ends cancelled
                result.reason = f"the model call failed: {exc.cause or exc}"
                return result
            result.prompt_tokens += answer.prompt_tokens
            result.completion_tokens += answer.completion_tokens
            result.model = answer.model
            if _handed_over(answer, result, step):
                return result
            if not answer.tool_calls:
                if not answer.content.strip():
                    result.reason = f"the model gave no answer (finish_reason {answer.finish_reason})"
                    return result
                result.outcome, result.text = "answered", answer.content
                result.slack_stream_ts = answer.slack_stream_ts
                return result
            if step == turn.max_steps:
                break
            garbled = [c for c in answer.tool_calls if c.arguments_error is not None or c.name not in TOOLS_BY_NAME]
            if garbled and told_about_garbled_calls:
                result.reason = "the model sent unusable tool calls again after being told"
                return result
            told_about_garbled_calls = told_about_garbled_calls or bool(garbled)
            messages.append(answer.as_message())
            records = await asyncio.gather(*(self._tool(turn, step, call) for call in answer.tool_calls))
            for call, record in zip(answer.tool_calls, records, strict=True):
                messages.append(ChatMessage(role="tool", tool_call_id=call.id, content=record.content))
                result.tools.append(record)
        result.outcome = "out_of_steps"
        result.reason = f"no answer within {turn.max_steps} steps"
        return result

    async def _tool(self, turn: TurnInput, step: int, call: ToolCall) -> ToolRecord:
        record = ToolRecord(step=step, name=call.name, arguments=call.arguments, content="", refused=True)
        if call.arguments_error is not None:
            record.content = _error(f"{call.arguments_error}; call {call.name} again with a JSON object")
            return record
        known = TOOLS_BY_NAME.get(call.name)
        if known is None:
            record.content = _error(f"there is no tool named {call.name}; use only the tools offered")
            return record
        _spec, activity_name = known
        try:
            output = await TOOL_CALLS[activity_name].run(
                # The scope is the turn's; the model's call only says what to look up.
                ToolInput(shop_id=turn.shop_id, conversation_id=turn.conversation_id, call=call)
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise
            record.content = _error(f"{call.name} failed; say you could not look it up and offer a person")
            return record
        record.content, record.refused = output.content, False
        return record
