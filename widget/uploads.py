"""`/widget/files`: a shopper's uploads (kept until a message sends them) and a conversation's files."""

from __future__ import annotations

import logging
from urllib.parse import quote
from uuid import UUID

import aiohttp
from aiohttp import web

from widget.http import conversation_ref, json_error, request_address, too_many
from zora import files as zfiles
from zora import identity as zid
from zora.file_limits import file_limits
from zora.files import FileRejected
from zora.limits import RateLimited
from zora.security import InvalidToken, verify_shopper_token
from zora.services import Services
from zora.shop_limits import shop_items
from zora.shopper_language import settings_or_defaults
from zora.store import shops as sshops

log = logging.getLogger(__name__)


async def upload_handler(request: web.Request, services: Services) -> web.Response:
    """`POST /widget/files`: a shopper's image or PDF, kept until a message sends it."""
    auth = request.headers.get("Authorization", "")
    try:
        identity = verify_shopper_token(services.settings.secret(), auth.removeprefix("Bearer ").strip())
    except InvalidToken:
        return json_error(401, "unauthorized", "Authorization: Bearer <token from /widget/session> is required")
    if not await zid.check_token(services.pool, identity):
        return json_error(401, "unauthorized", "this token was revoked; get a new one from /widget/session")
    try:
        async with services.pool.acquire() as conn:
            shop = settings_or_defaults(await sshops.settings(conn, identity.shop_id))
        await services.limiter.hit(
            ("rate_uploads_per_conversation", str(identity.conversation_id)),
            ("rate_uploads_per_address", request_address(request, services)),
            shop_items=shop_items(shop.rate_limits),
        )
    except RateLimited as exc:
        return too_many(exc)
    name = request.query.get("name", "")
    if not name.strip() or len(name) > zfiles.MAX_NAME:
        return json_error(400, "invalid_request", f"name: give the file's name (1-{zfiles.MAX_NAME} characters)")
    try:
        limits = file_limits(services.settings, shop)
        limit = limits.max_bytes
        content_type = zfiles.check_declared(
            request.headers.get("Content-Type", ""), request.content_length or 0, limit
        )
        if content_type not in limits.types:
            raise FileRejected("unsupported_type", f"this shop accepts only {', '.join(limits.types)}")
        # What may stream in: the declared size, or the most a file may be when none is declared.
        async with services.limiter.in_flight(
            f"upload:{identity.conversation_id}",
            min(request.content_length or limit, limit),
            services.settings.upload_bytes_in_flight_per_conversation,
        ):
            data = await zfiles.read_limited(request.content, limit)
        if not data:
            return json_error(400, "invalid_request", "the body is empty: send the file's bytes")
        zfiles.check_content(content_type, data)
        info = await zfiles.store_upload(services.pool, conversation_ref(identity), name, content_type, data)
    except RateLimited as exc:
        return too_many(exc)
    except FileRejected as exc:
        status = {"file_too_large": 413, "unsupported_type": 415, "too_many_files": 429}.get(exc.code, 403)
        return json_error(status, exc.code, exc.message)
    except aiohttp.ClientPayloadError:
        return json_error(400, "invalid_request", "the upload was cut off; send the file again")
    except Exception:
        log.exception("could not store a shopper's upload")
        return json_error(503, "unavailable", "the file was not stored; please try again")
    log.info("shopper uploaded a file", extra={"size": info.size, "type": info.type})
    return web.json_response({"file": info.model_dump(mode="json")}, status=201)


async def download_handler(request: web.Request, services: Services) -> web.Response:
    """`GET /widget/files/{id}`: a file of a conversation, for its shopper (the id is the permission)."""
    try:
        file_id = UUID(request.match_info["file_id"])
    except ValueError:
        return json_error(404, "not_found", "no such file")
    stored = await zfiles.read(services.pool, file_id)
    if stored is None:
        return json_error(404, "not_found", "no such file (it may have been deleted)")
    # Images are shown in place; a PDF is downloaded (browsers do not render PDFs in a sandboxed page).
    disposition = "inline" if stored.content_type.startswith("image/") else "attachment"
    return web.Response(
        body=stored.data,
        content_type=stored.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(stored.name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            # Not kept by browsers or proxies: an erased file (customers/redact) is gone at once, and a
            # shared computer keeps no copy of a shopper's ID card.
            "Cache-Control": "no-store",
            # Shown on storefronts (another origin) as <img>.
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )
