"""The merchant's settings page inside Shopify admin (issue 11 §1, §3), and the API behind it.

`GET /admin` is the page Shopify admin frames (`application_url`); it holds no data and no secret.
Everything under `/admin/api/` acts for the shop named by an App Bridge session token
(`Authorization: Bearer <jwt>`, zora/shopify/signing.py), never by anything else the request says.

A save is one versioned change: the request names the version it edited, the change is refused with 409
when someone saved in between, and the old and new settings are kept in shop_settings_history (who,
when), which is what the history list shows and what undo restores. Running conversations get the
change at once: most settings are read fresh from PostgreSQL where they are used; the two choices a
ConversationWorkflow carries in its state get a signal (and the workflow's tick refreshes them too).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from zora.limits import RateLimited
from zora.models import SettingsChanged
from zora.services import Services
from zora.shop_settings import AssistantSettings, ShopSettings, parse_settings
from zora.shopify.signing import InvalidSignature, valid_shop_domain, verify_session_token
from zora.staff import StaffAuthError, authenticate_staff, is_staff_token
from zora.store import conversations as sconversations
from zora.store import shops as sshops
from zora.temporal import Conversations
from zora.workflow_api import ConversationApi

log = logging.getLogger(__name__)

# History rows one GET returns, newest first.
HISTORY_PAGE = 50
# Open conversations signalled at once after a save (each is one Temporal RPC).
SIGNAL_CONCURRENCY = 16
# Settings are a few kilobytes; the assistant's policies text is the largest part.
_MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class AdminCaller:
    shop_id: int
    shop: str
    # The Shopify staff user id (`sub` of the session token), or `staff:<email>` for Zora's own sign-in
    # (zora/staff.py): recorded as who made each change.
    user: str
    # Shopify admin users may do everything; Zora's own staff accounts are owners or agents (read-only).
    role: str = "owner"


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}, **extra}, status=status)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors keyed by the dotted path of the field, in words a merchant reads."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        errors.setdefault(where, message)
    return errors


def _unknown_keys(raw: dict[str, Any]) -> dict[str, str]:
    """Keys the model would silently ignore: a typo in an API call must not look saved."""
    errors = {key: "unknown setting" for key in raw if key not in ShopSettings.model_fields}
    nested = raw.get("assistant")
    if isinstance(nested, dict):
        for key in nested:
            if key not in AssistantSettings.model_fields:
                errors[f"assistant.{key}"] = "unknown setting"
    return errors


def _nul_characters(value: Any, path: str = "") -> dict[str, str]:
    """PostgreSQL's jsonb cannot hold a NUL character: refused per field rather than failing the save."""
    if isinstance(value, str):
        return {path or "settings": "must not contain NUL characters"} if "\x00" in value else {}
    found: dict[str, str] = {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        where = f"{path}.{key}" if path else str(key)
        if "\x00" in str(key):
            found[where] = "must not contain NUL characters"
        found.update(_nul_characters(inner, where))
    return found


def _version(value: Any) -> int | None:
    """A version number from a request body (a JSON integer in PostgreSQL's integer range)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        return None
    return value


def validate_for_storage(raw: Any) -> tuple[ShopSettings | None, dict[str, str]]:
    """The settings a merchant sent, or the errors per field (nothing is stored then)."""
    if not isinstance(raw, dict):
        return None, {"settings": "must be an object of settings"}
    if errors := _unknown_keys(raw) or _nul_characters(raw):
        return None, errors
    try:
        return ShopSettings.model_validate(raw), {}
    except ValidationError as exc:
        return None, _field_errors(exc)


def stored_form(settings: ShopSettings) -> dict[str, Any]:
    """What goes into shops.settings: only what differs from the defaults, so a default changed in a
    later release reaches every shop that never chose otherwise."""
    dumped: dict[str, Any] = settings.model_dump(mode="json", exclude_defaults=True)
    return dumped


def _loads(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    loaded = json.loads(value) if isinstance(value, str) else value
    return loaded if isinstance(loaded, dict) else {}


async def authenticate(request: web.Request, services: Services) -> AdminCaller:
    """The shop and staff user a request acts for; web.HTTPUnauthorized (JSON) for anything else."""
    settings = services.settings
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("an App Bridge session token is required (Authorization: Bearer ...)")
    if is_staff_token(token.strip()):
        try:
            staff = await authenticate_staff(services, token.strip())
        except StaffAuthError as exc:
            log.info("admin API: refused staff token: %s", exc)
            raise _unauthorized(str(exc)) from None
        return AdminCaller(shop_id=staff.shop_id, shop=staff.shop, user=f"staff:{staff.email}", role=staff.role)
    if not settings.shopify_api_key or settings.shopify_api_secret is None:
        raise _unauthorized("this Zora has no Shopify app configured (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
    try:
        session = verify_session_token(
            settings.shopify_api_key, settings.shopify_api_secret.get_secret_value(), token.strip()
        )
    except InvalidSignature as exc:
        log.info("admin API: refused session token: %s", exc)
        raise _unauthorized("the session token is not valid") from None
    async with services.pool.acquire() as conn:
        shop_id = await sshops.installed_id(conn, session.shop)
    if shop_id is None:
        log.info("admin API: session token for %s, which is not installed", session.shop)
        raise _unauthorized("this shop has not installed Zora")
    return AdminCaller(shop_id=shop_id, shop=session.shop, user=session.user_id)


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": {"code": "unauthorized", "message": message}}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="zora-admin"'},
    )


def forbidden(message: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(
        text=json.dumps({"error": {"code": "forbidden", "message": message}}), content_type="application/json"
    )


class AdminApi:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._signalling: set[asyncio.Task[None]] = set()

    async def _caller(self, request: web.Request) -> AdminCaller:
        caller = await authenticate(request, self.services)
        await self.services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        return caller

    async def _owner(self, request: web.Request) -> AdminCaller:
        caller = await self._caller(request)
        if caller.role != "owner":
            raise forbidden("agents may read the settings but not change them; ask an owner of this shop")
        return caller

    async def get_settings(self, request: web.Request) -> web.Response:
        caller = await self._caller(request)
        async with self.services.pool.acquire() as conn:
            row = await sshops.versioned_settings(conn, caller.shop_id)
        try:
            current = parse_settings(row.settings)
            problem = None
        except ValidationError as exc:
            # Stored by hand (SQL) and invalid: the page shows the defaults and says what was wrong,
            # so saving fixes it instead of the page failing to open.
            current, problem = ShopSettings(), _field_errors(exc)
        return web.json_response(
            {
                "shop": caller.shop,
                "version": row.version,
                "settings": current.model_dump(mode="json"),
                "stored_errors": problem,
            }
        )

    async def put_settings(self, request: web.Request) -> web.Response:
        caller = await self._owner(request)
        body = await _json_body(request)
        version = _version(body.get("version")) if isinstance(body, dict) else None
        if not isinstance(body, dict) or version is None:
            return _error(400, "bad_request", 'send {"version": <the version you edited>, "settings": {...}}')
        new, errors = validate_for_storage(body.get("settings"))
        if new is None:
            return web.json_response({"errors": errors}, status=422)
        return await self._save(caller, version, new, restored_from=None)

    async def undo(self, request: web.Request) -> web.Response:
        """Undo change `undo` (a history version): the settings go back to what they were before it,
        as a new change of their own (so an undo can be undone too)."""
        caller = await self._owner(request)
        body = await _json_body(request)
        version = _version(body.get("version")) if isinstance(body, dict) else None
        undo = _version(body.get("undo")) if isinstance(body, dict) else None
        if version is None or undo is None:
            return _error(400, "bad_request", 'send {"version": <the current version>, "undo": <a history version>}')
        async with self.services.pool.acquire() as conn:
            old = await sshops.settings_before(conn, caller.shop_id, undo)
        if old is None:
            return _error(404, "not_found", f"there is no change {undo} to undo")
        restored, errors = validate_for_storage(_loads(old))
        if restored is None:
            # Settings this release no longer accepts: the merchant fixes them through the form instead.
            return web.json_response({"errors": errors}, status=422)
        return await self._save(caller, version, restored, restored_from=undo - 1)

    async def _save(
        self, caller: AdminCaller, expected: int, new: ShopSettings, *, restored_from: int | None
    ) -> web.Response:
        stored = stored_form(new)
        async with self.services.pool.acquire() as conn, conn.transaction():
            row = await sshops.versioned_settings(conn, caller.shop_id, lock=True)
            if row.version != expected:
                return _error(
                    409,
                    "conflict",
                    "someone else saved these settings since you opened them; reload to see their change",
                    version=row.version,
                )
            version = expected + 1
            await sshops.save_settings(
                conn,
                caller.shop_id,
                version=version,
                changed_by=caller.user,
                old=_loads(row.settings),
                new=stored,
                restored_from=restored_from,
            )
        log.info("settings of %s saved as version %s by %s", caller.shop, version, caller.user)
        task = asyncio.create_task(self.tell_conversations(caller, new))
        self._signalling.add(task)
        task.add_done_callback(self._signalling.discard)
        return web.json_response({"version": version, "settings": new.model_dump(mode="json")})

    async def tell_conversations(self, caller: AdminCaller, new: ShopSettings) -> None:
        """Signal the shop's running conversations: the choices their workflows carry change now. Best
        effort: a run the signal misses takes the change at its next tick (at most a minute)."""
        async with self.services.pool.acquire() as conn:
            ids = await sconversations.not_closed(conn, caller.shop_id)
        change = SettingsChanged(auto_assign=new.auto_assign, transcript_on_resolve=new.transcript_on_resolve)
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
        conversations = Conversations.from_settings(self.services.temporal, self.services.settings)

        async def one(conversation_id: Any) -> None:
            async with gate:
                try:
                    await conversations.signal_running(
                        caller.shop, conversation_id, ConversationApi.settings_changed, change
                    )
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # not running: a new run reads them
                        log.warning("settings change not signalled to %s: %s", conversation_id, exc)

        await asyncio.gather(*(one(cid) for cid in ids), return_exceptions=True)

    async def history(self, request: web.Request) -> web.Response:
        caller = await self._caller(request)
        async with self.services.pool.acquire() as conn:
            rows = await sshops.settings_history(conn, caller.shop_id, HISTORY_PAGE)
        changes = []
        for r in rows:
            old, new = _loads(r.old_settings), _loads(r.new_settings)
            changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
            changes.append(
                {
                    "version": r.version,
                    "by": r.changed_by,
                    "at": r.changed_at.isoformat(),
                    "changed": changed,
                    "old": old,
                    "new": new,
                    "restored_from": r.restored_from,
                }
            )
        return web.json_response({"changes": changes})

    async def close(self) -> None:
        for task in list(self._signalling):
            task.cancel()
        await asyncio.gather(*self._signalling, return_exceptions=True)


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_BODY_BYTES, actual_size=request.content_length)
    try:
        return json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return None


def admin_page(services: Services, shop: str) -> web.Response:
    """The page itself. Shopify admin frames it; the CSP names who may (Shopify's rule for embedded apps)."""
    settings = services.settings
    text = (resources.files("zora") / "static" / "admin.html").read_text()
    text = text.replace("{{API_KEY}}", html.escape(settings.shopify_api_key or "", quote=True))
    ancestors = ["https://admin.shopify.com"]
    if shop:
        ancestors.append(f"https://{shop}")
    parts = urlsplit(settings.shopify_admin_base_url or "")
    if parts.netloc and "{" not in parts.netloc:
        # A fixed admin host: zora dev's stand-in admin frame (zora/standins/shopify/admin_frame.py). In production the
        # base URL is per shop (https://{shop}), already listed above.
        ancestors.append(f"{parts.scheme}://{parts.netloc}")
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Content-Security-Policy": "frame-ancestors " + " ".join(ancestors), "Cache-Control": "no-store"},
    )


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    """`/admin` and `/admin/api/...`; called once from zora.app.web.create_app."""
    api_key: web.AppKey[AdminApi] = web.AppKey("admin_api", AdminApi)

    async def api_ctx(app: web.Application) -> Any:
        app[api_key] = AdminApi(app[services_key])
        yield
        await app[api_key].close()

    app.cleanup_ctx.append(api_ctx)

    def route(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            api = request.app[api_key]
            try:
                response: web.StreamResponse = await getattr(api, name)(request)
            except RateLimited as exc:
                response = _error(429, "rate_limited", str(exc), retry_after=exc.retry_after)
                response.headers["Retry-After"] = str(exc.retry_after)
            response.headers["Cache-Control"] = "no-store"
            return response

        return handler

    async def page(request: web.Request) -> web.Response:
        shop = request.query.get("shop", "")
        return admin_page(request.app[services_key], shop if valid_shop_domain(shop) else "")

    async def session_script(_request: web.Request) -> web.Response:
        # The session-token script the settings and analytics pages share (zora/static/session.js).
        body = (resources.files("zora") / "static" / "session.js").read_bytes()
        return web.Response(body=body, content_type="text/javascript", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/admin", page)
    app.router.add_get("/admin/session.js", session_script)
    app.router.add_get("/admin/api/settings", route("get_settings"))
    app.router.add_put("/admin/api/settings", route("put_settings"))
    app.router.add_get("/admin/api/settings/history", route("history"))
    app.router.add_post("/admin/api/settings/undo", route("undo"))
