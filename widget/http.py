"""What the widget's socket events and HTTP endpoints share: their error answers, the client's address,
the conversation a shopper token names, and the static files."""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from zora.limits import RateLimited
from zora.models import ConversationRef
from zora.security import ShopperIdentity
from zora.services import Services

# A code from an emailed link (a conversation's link or an address confirmation).
CODE = r"^[A-Za-z0-9_-]{20,100}$"


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def rate_limited(exc: RateLimited) -> dict[str, Any]:
    """The socket answer over a limit: nothing was stored; send it again after `retry_after` s."""
    return {
        "ok": False,
        "error": {
            "code": "rate_limited",
            "message": f"too many requests; try again in {exc.retry_after} s",
            "retry_after": exc.retry_after,
        },
    }


def too_many(exc: RateLimited) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": "rate_limited",
                "message": f"too many requests; try again in {exc.retry_after} s",
                "retry_after": exc.retry_after,
            }
        },
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def request_address(request: web.Request, services: Services) -> str:
    return services.limiter.address(request.remote, request.headers.get("X-Forwarded-For"))


def conversation_ref(identity: ShopperIdentity) -> ConversationRef:
    return ConversationRef(
        shop=identity.shop,
        shop_id=identity.shop_id,
        conversation_id=identity.conversation_id,
        shopper_id=identity.shopper_id,
    )


def static_file(name: str) -> bytes:
    return (resources.files("widget") / "static" / name).read_bytes()


@functools.cache
def _gzipped(name: str) -> bytes:
    # mtime 0: the same bytes from every web node, so caches and ETags agree.
    return gzip.compress(static_file(name), compresslevel=9, mtime=0)


def script_response(request: web.Request, name: str) -> web.Response:
    """A static script, gzipped for browsers that take it: on a storefront the widget's bundle shares a
    slow phone's bandwidth with the shop's own images, and uncompressed it delayed their paint (bench/widget_impact.py)."""
    headers = {"Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        body = _gzipped(name)
    else:
        body = static_file(name)
    return web.Response(body=body, content_type="application/javascript", headers=headers)
