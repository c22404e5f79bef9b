"""OAuth: the authorization-code grant (granted at once, or after the merchant presses "Install app" on
a grant screen when ``grant_screen`` is on, as in ``zora dev`` and the browser tests) and the
token-exchange grant of an App Bridge session token for an offline token."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from html import escape
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web

from zora.shopify.signing import oauth_query_hmac
from zora.standins.shopify.shops import Shops


class OAuth(Shops):
    """/admin/oauth/authorize and /admin/oauth/access_token, and the session tokens the latter takes."""

    # Show Shopify's grant screen (a person presses "Install app") instead of granting at once.
    grant_screen = False

    def session_token(self, domain: str, *, user: str = "42", lifetime: int = 60) -> str:
        """An App Bridge session token as the embedded admin would send it."""
        now = int(time.time())
        claims = {
            "iss": f"https://{domain}/admin",
            "dest": f"https://{domain}",
            "aud": self.api_key,
            "sub": user,
            "exp": now + lifetime,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.api_secret, algorithm="HS256")

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        domain = request.match_info["shop"]
        q = request.query
        if q.get("client_id") != self.api_key or not q.get("redirect_uri") or not q.get("state"):
            return web.Response(status=400, text="invalid_request")
        if self.grant_screen and request.method != "POST":
            return web.Response(text=_grant_page(domain, q.get("scope", "")), content_type="text/html")
        self.add_shop(domain)
        code = secrets.token_hex(16)
        self._codes[code] = domain
        params = {
            "code": code,
            "host": base64.urlsafe_b64encode(f"{domain}/admin".encode()).decode().rstrip("="),
            "shop": domain,
            "state": q["state"],
            "timestamp": str(int(time.time())),
        }
        params["hmac"] = oauth_query_hmac(self.api_secret, params)
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    async def _access_token(self, request: web.Request) -> web.Response:
        domain = request.match_info["shop"]
        form: dict[str, Any] = (
            await request.json() if request.content_type == "application/json" else dict(await request.post())
        )
        if form.get("client_id") != self.api_key or form.get("client_secret") != self.api_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange":
            try:
                claims = jwt.decode(
                    str(form.get("subject_token")),
                    self.api_secret,
                    algorithms=["HS256"],
                    audience=self.api_key,
                    leeway=10,
                )
            except jwt.PyJWTError:
                return web.json_response({"error": "invalid_subject_token"}, status=400)
            if claims.get("dest") != f"https://{domain}":
                return web.json_response({"error": "invalid_subject_token"}, status=400)
        elif self._codes.pop(str(form.get("code")), None) != domain:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": "authorization code was not found or was already used",
                },
                status=400,
            )
        token = self.issue_token(domain)
        return web.json_response({"access_token": token, "scope": ",".join(self.shops[domain].scopes)})


def _grant_page(domain: str, scope: str) -> str:
    scopes = "".join(f"<li>{escape(s)}</li>" for s in scope.split(",") if s)
    return (
        "<!doctype html><meta charset=utf-8><title>Install Zora · Shopify (stand-in)</title>"
        '<body style="font:15px system-ui;max-width:34em;margin:3em auto">'
        f"<p>Shopify stand-in · {escape(domain)}</p><h1>Install Zora</h1>"
        f"<p>Zora will be able to:</p><ul>{scopes}</ul>"
        '<form method=post><button id=install style="font:inherit;padding:.5em 1.2em">Install app</button></form>'
    )
