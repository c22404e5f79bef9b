"""Slack's OAuth v2 ("Add to Slack"): the authorize page a person approves, which sends the browser
back to the app's redirect URL with a code, and ``oauth.v2.access``, which trades the code (with the
app's client id and secret) for the workspace's bot token, in the shape of Slack's published example."""

from __future__ import annotations

import base64
import hmac
import html
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from zora.standins.slack.webapi import WebApi
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, ApiError

CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "standin-client-secret"


class OAuth(WebApi):
    """The authorize page and oauth.v2.access. Codes are single use; each approval can be given a
    fresh bot token (``rotate_token``, as a reinstall after an uninstall gets)."""

    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET
    # Enterprise Grid organisation of this workspace, when it models one.
    enterprise: dict[str, str] | None = None

    def _oauth_codes(self) -> dict[str, str]:
        codes: dict[str, str] | None = getattr(self, "_codes", None)
        if codes is None:
            codes = {}
            self._codes = codes
        return codes

    def _answers_code(self, code: str) -> bool:
        return code in self._oauth_codes()

    def rotate_token(self) -> str:
        """A new bot token from now on; the old one answers invalid_auth (a revoke then reinstall)."""
        self.bot_token = "xoxb-" + secrets.token_hex(12)
        return self.bot_token

    def approve(self, redirect_uri: str, state: str) -> str:
        """What clicking "Allow" does: the URL Slack sends the browser to, with a fresh code."""
        code = secrets.token_hex(8)
        self._oauth_codes()[code] = redirect_uri
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode({"code": code, "state": state})

    def _workspaces(self) -> list[OAuth]:
        """This workspace and those joined to its API host (``join``), which Slack's page lets a person pick."""
        peers = [peer for peer in self.__dict__.get("_peers", []) if isinstance(peer, OAuth)]
        return [self, *peers]

    async def _handle_authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return web.Response(status=400, text="invalid_client_id")
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        workspaces = self._workspaces()
        if request.method == "POST":
            form = await request.post()
            if form.get("allow") != "1":
                target = redirect_uri + "?" + urlencode({"error": "access_denied", "state": state})
            else:
                chosen = next((w for w in workspaces if w.team_id == form.get("team")), self)
                target = chosen.approve(redirect_uri, state)
            raise web.HTTPFound(target)
        scopes = html.escape(query.get("scope", "").replace(",", ", "))
        options = "".join(
            f'<option value="{html.escape(w.team_id)}">{html.escape(w.team_name)}</option>' for w in workspaces
        )
        page = (
            '<!doctype html><meta charset=utf-8><title>Slack: install Zora</title><body style="font:15px system-ui;'
            'max-width:34em;margin:3em auto"><p>Slack stand-in</p>'
            "<h1>Zora is requesting permission to access a Slack workspace</h1>"
            f"<form method=post><p><label for=team>Workspace</label> <select id=team name=team>{options}</select></p>"
            f"<p>Bot scopes: <code>{scopes}</code></p>"
            "<button name=allow value=1 id=allow>Allow</button> "
            "<button name=allow value=0 id=cancel>Cancel</button></form>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _oauth_v2_access(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if request.headers.get("Authorization", "").startswith("Basic "):
            decoded = base64.b64decode(request.headers["Authorization"][6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id:
            raise ApiError("invalid_client_id")
        if not hmac.compare_digest(str(client_secret or "").encode(), self.client_secret.encode()):
            raise ApiError("bad_client_secret")
        redirect_uri = self._oauth_codes().pop(str(params.get("code") or ""), None)
        if redirect_uri is None:
            raise ApiError("invalid_code")
        if params.get("redirect_uri") and params["redirect_uri"] != redirect_uri:
            raise ApiError("bad_redirect_uri")
        return {
            "ok": True,
            "access_token": self.bot_token,
            "token_type": "bot",
            "scope": ",".join(self.scopes),
            "bot_user_id": self.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": dict(self.enterprise) if self.enterprise else None,
            "is_enterprise_install": False,
            "authed_user": {"id": DEFAULT_AGENT_ID},
        }
