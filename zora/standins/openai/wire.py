"""OpenAI's wire format for chat completions: how a request is checked, the error envelope, the
completion object and the streamed chunks, and the usage estimate."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from zora.standins.openai.model import Reply

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLES = {"system", "developer", "user", "assistant", "tool"}


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def error_response(status: int, message: str, kind: str, code: str | None, param: str | None = None) -> web.Response:
    # OpenAI's error envelope (the SDK reads error.message, .type, .code and .param from it).
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)


def estimate_tokens(text: str) -> int:
    # Roughly four characters a token, as OpenAI's own rule of thumb; deterministic, never zero.
    return max(1, (len(text) + 3) // 4)


def check_request(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", "messages")
    waiting: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise BadRequest(f"Invalid value for 'messages[{i}].role'", f"messages.[{i}].role")
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in waiting:
                raise BadRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceding message"
                    " with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            waiting.discard(call_id)
            continue
        if waiting:
            raise BadRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each"
                f" 'tool_call_id'. The following tool_call_ids did not have response messages: {sorted(waiting)}",
                f"messages.[{i}].role",
            )
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if not isinstance(call, dict) or not isinstance(call.get("id"), str):
                    raise BadRequest(f"Invalid 'messages[{i}].tool_calls'", f"messages.[{i}].tool_calls")
                waiting.add(call["id"])
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise BadRequest("'tools' must be an array", "tools")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                raise BadRequest(f"Invalid value for 'tools[{i}]'", f"tools[{i}]")
            if not isinstance(function.get("name"), str) or not _TOOL_NAME.match(function["name"]):
                raise BadRequest(
                    f"Invalid 'tools[{i}].function.name': string does not match pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{i}].function.name",
                )


async def chunks(
    ident: str, model: str, reply: Reply, usage: dict[str, Any] | None, size: int
) -> AsyncIterator[dict[str, Any]]:
    """A streamed answer's `chat.completion.chunk` objects: content pieces or argument fragments of `size`
    characters, then the finish, then the usage when asked for."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_zora_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    if reply.calls:
        yield chunk({"role": "assistant", "content": None})
        for index, call in enumerate(reply.calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            for start in range(0, len(call.arguments), size):
                piece = call.arguments[start : start + size]
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    else:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        text = reply.content or ""
        for start in range(0, len(text), size):
            yield chunk({"content": text[start : start + size]})
    yield chunk({}, reply.finish_reason)
    if usage is not None:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage
        yield last
    # Let other connections (and heartbeats) run between answers, as a network would.
    await asyncio.sleep(0)


def usage_for(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    prompt = estimate_tokens(json.dumps(body["messages"]) + json.dumps(body.get("tools") or []))
    completion = estimate_tokens((reply.content or "") + "".join(c.name + c.arguments for c in reply.calls))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def completion(ident: str, model: str, reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.calls
        ]
    else:
        message["refusal"] = None
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": {
            **usage,
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
