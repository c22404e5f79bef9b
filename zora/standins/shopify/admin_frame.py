"""The Shopify admin's frame around the embedded app, for ``zora dev`` and the browser tests."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from urllib.parse import urlencode

from aiohttp import web

from zora.shopify.signing import oauth_query_hmac
from zora.standins.shopify.oauth import OAuth

_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")


class AdminFrame(OAuth):
    """/dev/shopify/admin and the session tokens it hands the app; the app's listing with its Install
    button, and the admin's address of an installed app."""

    # The app's install URL (Zora's /shopify/install), which the listing's Install button opens.
    install_url: str | None = None
    # Shopify installs the app itself and opens it in the admin (shopify.app.toml's use_legacy_install_flow
    # = false): the app's page then trades a session token for the offline token.
    managed_install = False

    @property
    def listing_url(self) -> str:
        """The app's listing with its Install button (a new shop's way in)."""
        return f"http://127.0.0.1:{self.port}/dev/shopify/install"

    def admin_frame_url(self, domain: str) -> str:
        return f"http://127.0.0.1:{self.port}/dev/shopify/admin?{urlencode({'shop': domain})}"

    async def _admin_frame(self, request: web.Request) -> web.Response:
        """Shopify admin's frame around an embedded app, for `zora dev` and the browser tests: it loads
        application_url with `shop` and `host` as the admin does, and answers the page's requests for a
        session token (made when App Bridge is absent: see zora/static/session.js) by postMessage."""
        domain = request.query.get("shop", "")
        if domain not in self.shops or not self.app_url:
            raise web.HTTPNotFound(text="unknown shop, or no app_url set on the stand-in")
        host = base64.urlsafe_b64encode(f"admin.shopify.com/store/{domain.split('.')[0]}".encode()).decode()
        src = f"{self.app_url}?{urlencode({'embedded': '1', 'shop': domain, 'host': host.rstrip('=')})}"
        app_origin = "/".join(self.app_url.split("/")[:3])
        page = _ADMIN_FRAME.format(
            shop=html.escape(domain),
            src=html.escape(src, quote=True),
            token_url=json.dumps(f"/dev/shopify/session-token?{urlencode({'shop': domain})}"),
            origin=json.dumps(app_origin),
        )
        return web.Response(text=page, content_type="text/html")

    async def _app_in_admin(self, request: web.Request) -> web.StreamResponse:
        """https://{shop}/admin/apps/{api key}, where Zora sends the merchant after an install: the frame."""
        raise web.HTTPFound(self.admin_frame_url(request.match_info["shop"]))

    async def _install_listing(self, request: web.Request) -> web.Response:
        """The app's listing: a merchant names their shop and presses Install; Shopify then opens the app's
        install URL with a signed query (shop, host, timestamp, hmac), which starts the OAuth grant."""
        domain = request.query.get("shop", "").strip().lower()
        if not domain:
            return web.Response(text=_LISTING.format(error=""), content_type="text/html")
        if not _SHOP_DOMAIN.fullmatch(domain):
            return web.Response(
                text=_LISTING.format(error="Give a shop domain ending in .myshopify.com."),
                status=400,
                content_type="text/html",
            )
        self.add_shop(domain)
        if self.managed_install or not self.install_url:
            raise web.HTTPFound(self.admin_frame_url(domain))
        host = base64.urlsafe_b64encode(f"{domain}/admin".encode()).decode().rstrip("=")
        params = {"host": host, "shop": domain, "timestamp": str(int(time.time()))}
        params["hmac"] = oauth_query_hmac(self.api_secret, params)
        raise web.HTTPFound(f"{self.install_url}?{urlencode(params)}")

    async def _session_token(self, request: web.Request) -> web.Response:
        domain = request.query.get("shop", "")
        if domain not in self.shops:
            raise web.HTTPNotFound(text="unknown shop")
        return web.json_response({"token": self.session_token(domain)}, headers={"Cache-Control": "no-store"})


_ADMIN_FRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{shop} · Shopify admin (stand-in)</title>
<style>body{{margin:0;font:14px sans-serif;background:#1a1a1a;color:#fff}}
header{{padding:8px 16px}}iframe{{border:0;width:100%;height:calc(100vh - 36px);background:#f1f1f1}}</style></head>
<body><header>Shopify admin stand-in · {shop} · Apps &rsaquo; Zora</header>
<iframe id="app" title="Zora" src="{src}"></iframe>
<script>
// What App Bridge does for the app in the real admin, reduced to session tokens: the page asks, this
// frame fetches a token the stand-in signs with the app secret and hands it back to that frame only.
var frame = document.getElementById("app");
window.addEventListener("message", function (event) {{
  if (event.source !== frame.contentWindow || event.origin !== {origin}) return;
  if (!event.data || event.data.type !== "zora-dev:id-token-request") return;
  fetch({token_url}).then(function (r) {{ return r.json(); }}).then(function (body) {{
    frame.contentWindow.postMessage({{type: "zora-dev:id-token", nonce: event.data.nonce, token: body.token}}, {origin});
  }});
}});
</script></body></html>
"""

_LISTING = """<!doctype html><meta charset="utf-8"><title>Zora · Shopify App Store (stand-in)</title>
<body style="font:15px system-ui;max-width:34em;margin:3em auto"><p>Shopify App Store stand-in</p>
<h1>Zora: customer chat answered from Slack</h1><p>Shoppers chat on your storefront, your team answers in Slack.</p>
<form method="get"><label for="shop">Your shop</label> <input id="shop" name="shop" placeholder="my-shop.myshopify.com" size="30">
<button id="install">Install</button><p role="alert">{error}</p></form>"""
