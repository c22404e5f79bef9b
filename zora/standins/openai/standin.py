"""The OpenAI stand-in's server: its HTTP endpoint, test controls and lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from zora.errors import ZoraError
from zora.standins import serve
from zora.standins.openai.model import Reply, demo_reply
from zora.standins.openai.wire import BadRequest, check_request, chunks, completion, error_response, usage_for

FailureKind = Literal["rate_limit", "server_error", "status", "hang", "malformed_tool_call", "injection"]


class StandInError(ZoraError):
    pass


@dataclass
class Failure:
    kind: FailureKind
    retry_after: float | None
    after_chunks: int
    status: int


class OpenAIStandIn:
    """A chat completions endpoint whose model is a deterministic script."""

    def __init__(self, *, api_key: str | None = None, chunk_size: int = 6) -> None:
        # When set, requests must carry it as a bearer token (a wrong one is a 401, as with OpenAI).
        self.api_key = api_key
        # Characters per content piece and per argument fragment in a stream.
        self.chunk_size = chunk_size
        # Every request body received, in order (tests read what the model was told).
        self.requests: list[dict[str, Any]] = []
        self._failures: deque[Failure] = deque()
        # Recorded provider streams to answer the next streaming requests with, verbatim.
        self._replays: deque[bytes] = deque()
        # Hung requests wait on this; stop() and release() let them go.
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self._handle)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise StandInError("the OpenAI stand-in is already started")
        self._release = asyncio.Event()
        self._runner, self._origin = await serve(self.app, host, port)

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._origin = None

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be set to."""
        if self._origin is None:
            raise StandInError("the OpenAI stand-in is not started")
        return f"{self._origin}/v1"

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        kind: FailureKind,
        *,
        times: int = 1,
        retry_after: float | None = 1.0,
        after_chunks: int = 0,
        status: int = 500,
    ) -> None:
        """The next `times` requests fail this way. `retry_after` (seconds; None: no header) goes with a
        429; "status" answers `status` with OpenAI's error envelope; a hang may first stream
        `after_chunks` chunks (streaming requests only)."""
        if kind == "status" and not 400 <= status <= 599:
            raise StandInError(f"status {status} is not an error status")
        for _ in range(times):
            self._failures.append(Failure(kind, retry_after, after_chunks, status))

    def replay_next(self, recorded: bytes) -> None:
        """The next streaming request is answered with this recorded server-sent-events body, byte for
        byte (a provider's real stream, to check a client against)."""
        self._replays.append(recorded)

    def release(self) -> None:
        """Let hung requests end: a 503 when nothing was sent yet, else a stream cut short (no [DONE])."""
        self._release.set()
        self._release = asyncio.Event()

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error_response(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(
                400, "We could not parse the JSON body of your request.", "invalid_request_error", None
            )
        if not isinstance(body, dict):
            return error_response(400, "The request body must be a JSON object.", "invalid_request_error", None)
        self.requests.append(body)
        try:
            check_request(body)
        except BadRequest as exc:
            return error_response(400, str(exc), "invalid_request_error", None, exc.param)

        failure = self._failures.popleft() if self._failures else None
        if failure is not None and failure.kind == "rate_limit":
            response = error_response(
                429,
                "Rate limit reached for requests. Please try again later.",
                "requests",
                "rate_limit_exceeded",
            )
            if failure.retry_after is not None:
                response.headers["retry-after"] = f"{failure.retry_after:g}"
            return response
        if failure is not None and failure.kind == "status":
            kind = "invalid_request_error" if failure.status < 500 else "server_error"
            return error_response(failure.status, f"The stand-in was told to answer {failure.status}.", kind, None)
        if failure is not None and failure.kind == "server_error":
            return error_response(500, "The server had an error while processing your request.", "server_error", None)
        stream = bool(body.get("stream"))
        if stream and self._replays:
            recorded = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await recorded.prepare(request)
            await recorded.write(self._replays.popleft())
            await recorded.write_eof()
            return recorded
        if failure is not None and failure.kind == "hang" and not (stream and failure.after_chunks):
            await self._release.wait()
            # Released (the client gave up long ago): end it as a provider's gateway would.
            return error_response(503, "The server did not answer in time.", "server_error", None)

        reply = demo_reply(body, failure.kind if failure is not None else None)
        ident = "chatcmpl-" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:29]
        usage = usage_for(body, reply)
        model = str(body["model"])
        if not stream:
            return web.json_response(completion(ident, model, reply, usage))

        stream_response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await stream_response.prepare(request)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        hang_after = failure.after_chunks if failure is not None and failure.kind == "hang" else None
        # A client that went away (it timed out, or was cancelled) has nothing left to be told.
        with contextlib.suppress(ConnectionResetError):
            await self._stream(stream_response, ident, model, reply, usage if include_usage else None, hang_after)
        return stream_response

    async def _stream(
        self,
        response: web.StreamResponse,
        ident: str,
        model: str,
        reply: Reply,
        usage: dict[str, Any] | None,
        hang_after: int | None,
    ) -> None:
        sent = 0
        async for chunk in chunks(ident, model, reply, usage, self.chunk_size):
            if hang_after is not None and sent >= hang_after:
                # The stream stops mid-answer; once released it ends without [DONE].
                await self._release.wait()
                break
            await response.write(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
            sent += 1
        else:
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
