"""The Web API's front door: how a call's parameters are read, its token checked, and the failures a
test queued (rate limits, errors, lost answers) played before the method's handler runs."""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from typing import Any

from aiohttp import web

from zora.standins.slack.workspace import ApiError, Injection, MethodHandler, Workspace

# Methods called with the app's client id and secret rather than a token.
_NO_TOKEN = frozenset({"oauth.v2.access"})


class WebApi(Workspace):
    """The /api/{method} route and the failures tests queue for it."""

    def join(self, other: WebApi) -> None:
        """Answer `other` workspace's calls at this base URL too, as Slack's one API host serves every
        workspace: a call goes to the workspace whose bot token it carries, or whose OAuth code it trades."""
        peers: list[WebApi] = self.__dict__.setdefault("_peers", [])
        peers.append(other)

    def _answers_code(self, code: str) -> bool:
        return False

    def _peer_for(self, method: str, token: Any, params: dict[str, Any]) -> WebApi | None:
        peers: list[WebApi] = self.__dict__.get("_peers", [])
        for peer in peers:
            if method in _NO_TOKEN:
                if peer._answers_code(str(params.get("code") or "")):
                    return peer
            elif (
                token
                and peer.bot_token is not None
                and hmac.compare_digest(str(token).encode(), peer.bot_token.encode())
            ):
                return peer
        return None

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After`` (before any auth check).

        Injections from rate_limit() and fail() queue up per method in the order they were made.
        """
        queue = self._injections.setdefault(method, deque())
        queue.extend(Injection("ratelimited", retry_after) for _ in range(times))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(Injection(error) for _ in range(times))

    def lose_answers(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out, then the connection is dropped before
        the answer: the caller cannot tell whether Slack did it (a crash or a network cut at that moment)."""
        self._lost_answers[method] = self._lost_answers.get(method, 0) + times

    def server_error(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        error: str = "internal_error",
        carried_out: bool = False,
    ) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` (500, 503...) with ``ok: false``;
        with ``carried_out`` the call took effect first, as Slack warns an internal_error may have."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(Injection(error, status=status, carried_out=carried_out) for _ in range(times))

    def hang(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get no answer for ``seconds`` (longer than the caller's
        timeout: it gives up), then are carried out anyway, as a slow Slack does."""
        queue = self._injections.setdefault(method, deque())
        queue.extend(Injection("timeout", hang=seconds) for _ in range(times))

    def clear_failures(self, method: str) -> None:
        """Forget queued failures of `method` (the problem was fixed)."""
        self._injections.pop(method, None)

    # ------------------------------------------------------------------ web API dispatch

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.call_peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            self.calls.append((method, {}))
            return self._json({"ok": False, "error": exc.error})
        token = params.pop("token", None)
        auth_header = request.headers.get("Authorization", "")
        if auth_header.startswith("Bearer "):
            token = auth_header.removeprefix("Bearer ").strip()
        peer = self._peer_for(method, token, params)
        return await (peer or self)._dispatch(method, params, token, request)

    async def _dispatch(self, method: str, params: dict[str, Any], token: Any, request: web.Request) -> web.Response:
        self.calls.append((method, params))

        handler = self._methods.get(method)
        if handler is None:
            return self._json({"ok": False, "error": "unknown_method"})
        queue = self._injections.get(method)
        injection = queue.popleft() if queue else None
        if injection is not None and injection.hang is None and not injection.carried_out:
            if injection.retry_after is not None:
                return self._json(
                    {"ok": False, "error": injection.error},
                    status=429,
                    headers={"Retry-After": str(injection.retry_after)},
                )
            return self._json({"ok": False, "error": injection.error}, status=injection.status)
        if method in _NO_TOKEN:
            return self._json(await self._no_token_call(handler, params, request))
        if not token:
            return self._json({"ok": False, "error": "not_authed"})
        # apps.connections.open is the one method that takes the app-level token (xapp-...).
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if expected is None:
            return self._json({"ok": False, "error": "invalid_auth"})
        if not hmac.compare_digest(str(token).encode(), expected.encode()):
            return self._json({"ok": False, "error": "invalid_auth"})
        if injection is not None and injection.hang is not None:
            # The caller gives up meanwhile; aiohttp lets this handler run on (no handler cancellation).
            await asyncio.sleep(injection.hang)
        try:
            answer = await handler(params, request)
        except ApiError as exc:
            answer = {"ok": False, "error": exc.error}
            if exc.missing is not None:
                answer["response_metadata"] = {"messages": [f"[ERROR] missing required field: {exc.missing}"]}
        if injection is not None and injection.carried_out:
            return self._json({"ok": False, "error": injection.error}, status=injection.status)
        if self._lost_answers.get(method):
            self._lost_answers[method] -= 1
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError  # never reaches the caller: the connection is gone
        return self._json(answer, headers={"X-OAuth-Scopes": ",".join(self.scopes), "X-Accepted-OAuth-Scopes": ""})

    @staticmethod
    async def _no_token_call(handler: MethodHandler, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        try:
            return await handler(params, request)
        except ApiError as exc:
            return {"ok": False, "error": exc.error}

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        """Merge query string and body the way Slack does: form-encoded or JSON, whichever was sent."""
        params: dict[str, Any] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            params.update(body)
        else:
            form = await request.post()
            params.update({key: value for key, value in form.items() if isinstance(value, str)})
        return params
