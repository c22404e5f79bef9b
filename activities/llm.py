"""The model call of an assistant turn: one streamed chat completion, in Temporal's terms.

The SDK's own retries are off (max_retries=0): Temporal owns retries, so a failure becomes an
ApplicationError that says whether and when to try again. The caller sets start_to_close and heartbeat
timeouts; the stream heartbeats as it arrives, so a provider that stops sending is noticed.
"""

from __future__ import annotations

import email.utils
import logging
import time
from datetime import timedelta
from typing import Any, cast

import openai
from openai import AsyncOpenAI, omit
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionToolUnionParam
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import LLM_COMPLETE_CALL
from activities.llm_stream import Outlets, ShopperStream, SlackStream, remove_partial, slack_label, started_stream
from zora.assistant import LlmRequest, LlmResult, StreamTarget, ToolCall, check_arguments
from zora.db import Pool
from zora.push import Emitter
from zora.settings import Settings
from zora.shop_settings import parse_settings
from zora.slack_api import SlackWorkspaces
from zora.store import shops as sshops
from zora.store import threads as sthreads

log = logging.getLogger(__name__)

# Where OpenAI's own API lives; passed explicitly so the SDK never reads OPENAI_* from the environment
# (settings are read once, by zora.settings).
OPENAI_API_URL = "https://api.openai.com/v1"
# Local servers often want no key, but the SDK insists on one.
NO_KEY = "not-set"
# Statuses a retry can fix (the SDK's own list): request timeout, conflict, rate limit, server errors.
_RETRYABLE_STATUS = {408, 409, 429}
# A 429 with no usable retry-after still waits a little; one with a huge one is capped (Temporal's
# retry policy and the turn's own timeout decide when to give up).
_MIN_RETRY_DELAY = 1.0
_MAX_RETRY_DELAY = 600.0


def retry_after_seconds(headers: Any) -> float | None:
    """The provider's retry-after-ms, or retry-after (seconds, or an HTTP date), as the SDK reads them."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


def classify(exc: openai.OpenAIError) -> ApplicationError:
    """How a failed model call reaches Temporal."""
    if isinstance(exc, openai.APITimeoutError):
        return ApplicationError(f"model call timed out: {exc}", type="LlmTimeout")
    if isinstance(exc, openai.APIConnectionError):
        return ApplicationError(f"model endpoint unreachable: {exc}", type="LlmUnreachable")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            delay = retry_after_seconds(exc.response.headers)
            return ApplicationError(
                f"model rate limited: {exc.message}",
                type="LlmRateLimited",
                next_retry_delay=None
                if delay is None
                else timedelta(seconds=min(max(delay, _MIN_RETRY_DELAY), _MAX_RETRY_DELAY)),
            )
        if status >= 500 or status in _RETRYABLE_STATUS:
            return ApplicationError(f"model endpoint failed ({status}): {exc.message}", type="LlmServerError")
        # 400 (a request the provider will never take), 401/403 (key), 404 (model or URL), 422...:
        # the same request fails the same way, so retrying only spends budget.
        return ApplicationError(
            f"model endpoint refused the request ({status}): {exc.message}", type="LlmRefused", non_retryable=True
        )
    # Anything else the SDK raises (a body it cannot read): retryable, Temporal's policy bounds it.
    return ApplicationError(f"model call failed: {exc}", type="LlmError")


def _estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


class LlmActivities:
    """Model calls, with the SDK client built once per worker from the settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        emitter: Emitter | None = None,
        pool: Pool | None = None,
        workspaces: SlackWorkspaces | None = None,
    ) -> None:
        # Where answers stream while they are written (requests with `stream_to`): the shopper's widget
        # through `emitter`, the Slack thread (found in `pool`) through `workspaces`. Without an emitter
        # nothing streams; without a pool or workspaces, nothing streams to Slack.
        self.emitter = emitter
        self.pool = pool
        self.workspaces = workspaces
        # The bot user of each workspace (auth.test), the recipient of its streams.
        self._bot_users: dict[str, str] = {}
        self.model = settings.openai_model
        self.client = AsyncOpenAI(
            base_url=settings.openai_base_url or OPENAI_API_URL,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else NO_KEY,
            # Temporal owns retries; the SDK's would hide 429s and double the waits.
            max_retries=0,
            timeout=settings.openai_timeout_seconds,
        )

    async def close(self) -> None:
        await self.client.close()

    def all(self) -> list[Any]:
        return [self.complete]

    @LLM_COMPLETE_CALL.defn
    async def complete(self, request: LlmRequest) -> LlmResult:
        try:
            return await self._complete(request)
        except openai.OpenAIError as exc:
            error = classify(exc)
            log.warning("model call for %s step %s failed: %s", request.turn_id, request.step, error)
            raise error from None

    async def _complete(self, request: LlmRequest) -> LlmResult:
        model = request.model or self.model
        # Alive before the first byte too: a model can think a while before it streams.
        activity.heartbeat(0)
        outlets = await self._outlets(request)
        try:
            stream = await self.client.chat.completions.create(
                model=model,
                messages=cast("list[ChatCompletionMessageParam]", [m.wire() for m in request.messages]),
                tools=cast("list[ChatCompletionToolUnionParam]", [t.wire() for t in request.tools])
                if request.tools
                else omit,
                max_tokens=request.max_tokens if request.max_tokens is not None else omit,
                stream=True,
                stream_options={"include_usage": True},
            )
            answer = _Answer(model)
            async with stream:
                async for chunk in stream:
                    text = answer.add(chunk)
                    if outlets is not None:
                        await outlets.add(text)
                    activity.heartbeat(answer.offset, *(outlets.details() if outlets is not None else ()))
            if answer.finish_reason is None:
                # The stream ended without saying it was complete (a connection cut mid-answer): what
                # arrived may be a partial answer or half a tool call, so none of it is used.
                raise ApplicationError("the model's stream ended before the answer was complete", type="LlmStreamCut")
            result = answer.result(request, answer.finish_reason)
        except BaseException:
            if outlets is not None:
                await outlets.failed()
            raise
        if outlets is not None:
            result.slack_stream_ts = await outlets.done(bool(result.tool_calls))
        return result

    async def _outlets(self, request: LlmRequest) -> Outlets | None:
        """Where this call's text streams, when the turn asked for it (and an earlier attempt's partial
        Slack message taken out of the thread first)."""
        target = request.stream_to
        if target is None or self.emitter is None:
            return None
        info = activity.info()
        shopper = ShopperStream(self.emitter, target, request.turn_id, request.step, info.attempt)
        slack = None
        try:
            slack = await self._slack_stream(target, started_stream(info.heartbeat_details))
        except Exception:
            # The thread, the shop's settings or auth.test could not be read: the widget still streams.
            log.exception("no Slack stream for %s", request.turn_id)
        outlets = Outlets(shopper, slack)
        if slack is not None:
            # Said at once (not at the next chunk, which may never come): a retry must find it.
            slack.on_started = lambda _ts: activity.heartbeat(
                shopper.offset + shopper.pending_chars, *outlets.details()
            )
        await outlets.start()
        return outlets

    async def _slack_stream(self, target: StreamTarget, earlier: tuple[str, str] | None) -> SlackStream | None:
        if self.pool is None or self.workspaces is None:
            return None
        async with self.pool.acquire() as conn:
            thread = await sthreads.of_conversation(conn, target.conversation_id)
            raw = await sshops.settings(conn, target.shop_id)
        if thread is None:
            return None  # not in Slack yet: the answer is posted with the conversation's other messages
        gateway = await self.workspaces.for_team(thread.team_id)
        if earlier is not None:
            await remove_partial(gateway, *earlier)
        bot_user = self._bot_users.get(thread.team_id)
        if bot_user is None:
            bot_user = self._bot_users[thread.team_id] = str((await gateway.auth_test())["user_id"])
        label = slack_label(parse_settings(raw).assistant.persona_name)
        return SlackStream(gateway, thread, bot_user, label)


class _Answer:
    """A streamed answer, put together from its chunks."""

    def __init__(self, model: str) -> None:
        self.content: list[str] = []
        # Tool calls arrive in fragments by index: the first carries id and name, the rest argument text.
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: CompletionUsage | None = None
        self.answered_by = model
        # Characters received so far (content and arguments): the heartbeat's progress, and where a
        # shopper's stream stands.
        self.offset = 0

    def add(self, chunk: ChatCompletionChunk) -> str:
        """Takes one chunk in; returns the answer's text it carried (tool-call fragments are not text)."""
        text = ""
        self.answered_by = chunk.model or self.answered_by
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue  # n=1 is asked for; anything else is not ours
            delta = choice.delta
            if delta.content:
                self.content.append(delta.content)
                self.offset += len(delta.content)
                text += delta.content
            for fragment in delta.tool_calls or []:
                call = self.calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                if fragment.id:
                    call["id"] = fragment.id
                if fragment.function is not None:
                    if fragment.function.name:
                        call["name"] += fragment.function.name
                    if fragment.function.arguments:
                        call["arguments"] += fragment.function.arguments
                        self.offset += len(fragment.function.arguments)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
        return text

    def result(self, request: LlmRequest, finish_reason: str) -> LlmResult:
        tool_calls = [
            ToolCall(
                # Some OpenAI-compatible servers send no ids; the answer to a call needs one.
                id=call["id"] or f"call_{request.step}_{index}",
                name=call["name"],
                arguments=call["arguments"],
                arguments_error="the tool call names no tool"
                if not call["name"]
                else check_arguments(call["arguments"]),
            )
            for index, call in sorted(self.calls.items())
        ]
        text = "".join(self.content)
        if self.usage is not None:
            prompt_tokens, completion_tokens, reported = self.usage.prompt_tokens, self.usage.completion_tokens, True
        else:
            prompt_tokens = _estimate_tokens("".join(str(m.wire()) for m in request.messages))
            completion_tokens = _estimate_tokens(text + "".join(c.arguments for c in tool_calls))
            reported = False
        return LlmResult(
            content=text,
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            model=self.answered_by,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            usage_reported=reported,
        )
