"""Zora's own sign-in for staff, over HTTP (issue 11 §5; zora/staff.py has the rules, docs/staff.md the
flow). `/staff` is the sign-in page; `/staff/settings` the same settings page as in Shopify admin, fed
with staff access tokens instead of App Bridge session tokens. Every answer is JSON and `no-store`."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from importlib import resources
from typing import Any

from aiohttp import web

from zora import staff
from zora.addresses import InvalidAddress
from zora.admin import authenticate, forbidden
from zora.limits import RateLimited
from zora.mail import Mailer
from zora.services import Services
from zora.staff import StaffAuthError, StaffCaller
from zora.store import staff as sstaff

log = logging.getLogger(__name__)

_MAX_BODY_BYTES = 16 * 1024
WRONG_PASSWORD = "the email or the password is wrong"


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.response = web.json_response({"error": {"code": code, "message": message}, **extra}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > _MAX_BODY_BYTES:
        raise Refused(413, "too_large", "the request is too large")
    try:
        body = json.loads(await request.content.read(_MAX_BODY_BYTES + 1))
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "bad_request", "send a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refused(400, "bad_request", f"{name} is required")
    return value


class StaffApi:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.sessions = staff.Sessions(services.redis, services.settings)
        self.mailer = Mailer(services.settings)
        self._mailing: set[asyncio.Task[None]] = set()

    def _address(self, request: web.Request) -> str:
        return self.services.limiter.address(request.remote, request.headers.get("X-Forwarded-For"))

    async def _staff(self, request: web.Request) -> StaffCaller:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not staff.is_staff_token(token.strip()):
            raise Refused(401, "unauthorized", "a staff access token is required (Authorization: Bearer ...)")
        try:
            return await staff.authenticate_staff(self.services, token.strip())
        except StaffAuthError as exc:
            raise Refused(401, "unauthorized", str(exc)) from None

    async def sign_in(self, request: web.Request) -> web.Response:
        """Email and password: right, a code is emailed and the answer names its challenge; wrong or
        unknown, the same 401 after the same bcrypt work."""
        body = await _body(request)
        email, password = _text(body, "email"), _text(body, "password")
        address = self._address(request)
        await self.services.limiter.hit(
            ("rate_staff_sign_in_per_address", address),
            ("rate_staff_sign_in_per_address_and_email", f"{address}|{email.strip().lower()}"),
        )
        if len(password.encode()) > staff.MAX_PASSWORD_BYTES:
            raise Refused(400, "password_too_long", staff.password_problem(password) or "")
        if not self.mailer.enabled:
            raise Refused(503, "no_mail", "sign-in sends a code by email, and this Zora has no SMTP_HOST set")
        try:
            email = staff.normal_email(email)
        except InvalidAddress:
            email = ""
        async with self.services.pool.acquire() as conn:
            account = await sstaff.by_email(conn, email) if email else None
        if not await staff.check_password(password, account.password_hash if account else None) or account is None:
            raise Refused(401, "wrong_password", WRONG_PASSWORD)
        challenge, code = secrets.token_urlsafe(24), staff.new_code()
        async with self.services.pool.acquire() as conn:
            await sstaff.add_code(
                conn, challenge, account.id, staff.code_hash(self.settings, challenge, code), staff.CODE_TTL_SECONDS
            )
        self._send(staff.code_email(to_address=account.email, shop=account.shop, code=code))
        return web.json_response({"challenge": challenge, "expires_in": staff.CODE_TTL_SECONDS})

    async def verify(self, request: web.Request) -> web.Response:
        """The emailed code for a challenge: right, a session starts (access and refresh tokens)."""
        body = await _body(request)
        challenge, code = _text(body, "challenge"), _text(body, "code")
        await self.services.limiter.hit(("rate_staff_sign_in_per_address", self._address(request)))
        # The attempt is counted (committed) whether or not the code is right: nothing raises in here.
        async with self.services.pool.acquire() as conn, conn.transaction():
            row = await sstaff.live_code(conn, challenge, staff.CODE_ATTEMPTS)
            right = row is not None and staff.code_matches(self.settings, challenge, code, row.code_hash)
            if row is not None and right:
                await sstaff.use_code(conn, challenge)
            account = await sstaff.by_id(conn, row.account_id) if row is not None and right else None
        if row is None:
            raise Refused(401, "code_expired", "this code has expired, was used or was tried too often; sign in again")
        if not right:
            raise Refused(401, "wrong_code", "the code is wrong", attempts_left=staff.CODE_ATTEMPTS - row.attempts)
        if account is None:
            raise Refused(401, "code_expired", "this account no longer exists")
        session_id, refresh = await self.sessions.start(
            account.id, account.password_version, self._address(request), request.headers.get("User-Agent", "")
        )
        claims = staff.StaffClaims(account.id, account.shop, session_id, account.password_version)
        return self._tokens(claims, refresh, role=account.role, email=account.email)

    def _tokens(self, claims: staff.StaffClaims, refresh: str, **extra: str) -> web.Response:
        return web.json_response(
            {
                "access_token": staff.issue_access_token(self.settings, claims),
                "refresh_token": refresh,
                "expires_in": self.settings.staff_access_token_minutes * 60,
                "shop": claims.shop,
                **extra,
            }
        )

    async def refresh(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            session, refresh = await self.sessions.rotate(_text(body, "refresh_token"))
        except StaffAuthError as exc:
            raise Refused(401, "unauthorized", str(exc)) from None
        async with self.services.pool.acquire() as conn:
            account = await sstaff.by_id(conn, session.account_id)
        if account is None or account.password_version != session.password_version:
            await self.sessions.revoke(session.account_id, session.id)
            raise Refused(401, "unauthorized", "the password was changed or the account removed; sign in again")
        claims = staff.StaffClaims(account.id, account.shop, session.id, account.password_version)
        return self._tokens(claims, refresh, role=account.role, email=account.email)

    async def me(self, request: web.Request) -> web.Response:
        caller = await self._staff(request)
        sessions = await self.sessions.of_account(caller.account_id)
        listed = [
            {
                "id": s.id,
                "current": s.id == caller.session_id,
                "created_at": s.created_at,
                "last_used_at": s.last_used_at,
                "address": s.address,
                "agent": s.agent,
            }
            for s in sessions
        ]
        return web.json_response({"email": caller.email, "shop": caller.shop, "role": caller.role, "sessions": listed})

    async def revoke(self, request: web.Request) -> web.Response:
        caller = await self._staff(request)
        if not await self.sessions.revoke(caller.account_id, request.match_info["session_id"]):
            raise Refused(404, "not_found", "you have no such session")
        return web.json_response({"ok": True})

    async def sign_out(self, request: web.Request) -> web.Response:
        caller = await self._staff(request)
        await self.sessions.revoke(caller.account_id, caller.session_id)
        return web.json_response({"ok": True})

    async def change_password(self, request: web.Request) -> web.Response:
        """Needs the current password; ends every session of the account (this one too)."""
        caller = await self._staff(request)
        body = await _body(request)
        current, new = _text(body, "current_password"), _text(body, "new_password")
        if problem := staff.password_problem(new):
            raise Refused(422, "bad_password", problem)
        async with self.services.pool.acquire() as conn:
            account = await sstaff.by_id(conn, caller.account_id)
        if account is None or not await staff.check_password(current, account.password_hash):
            raise Refused(403, "wrong_password", "the current password is wrong")
        hashed = await staff.hash_password(new)
        async with self.services.pool.acquire() as conn:
            await sstaff.set_password(conn, account.id, hashed)
        ended = await self.sessions.revoke_all(account.id)
        log.info("staff %s changed their password; %s session(s) ended", account.id, ended)
        return web.json_response({"ok": True, "sessions_ended": ended})

    async def invite(self, request: web.Request) -> web.Response:
        """An owner (or a Shopify admin user on the embedded page) invites someone by email."""
        caller = await authenticate(request, self.services)
        await self.services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        if caller.role != "owner":
            raise forbidden("only owners may invite staff")
        body = await _body(request)
        role = body.get("role", "agent")
        if role not in staff.ROLES:
            raise Refused(422, "bad_role", "role must be owner or agent")
        try:
            email = staff.normal_email(_text(body, "email"))
        except InvalidAddress as exc:
            raise Refused(422, "bad_email", str(exc)) from None
        if not self.mailer.enabled or not self.settings.public_url:
            raise Refused(503, "no_mail", "invitations need SMTP_HOST and PUBLIC_URL")
        token = secrets.token_urlsafe(32)
        async with self.services.pool.acquire() as conn, conn.transaction():
            account_id = await sstaff.create(conn, caller.shop_id, email, role, None)
            if account_id is None:
                raise Refused(409, "exists", "this address already has an account")
            await sstaff.add_invitation(
                conn, staff.opaque_hash(token), account_id, caller.user, staff.INVITATION_TTL_SECONDS
            )
        link = f"{self.settings.public_url.rstrip('/')}/staff/invite#{token}"
        self._send(staff.invitation_email(to_address=email, shop=caller.shop, role=role, link=link))
        return web.json_response({"ok": True, "email": email, "role": role})

    async def accept(self, request: web.Request) -> web.Response:
        """The invitee's password, with the token from the invitation link (single use)."""
        body = await _body(request)
        token, password = _text(body, "token"), _text(body, "password")
        await self.services.limiter.hit(("rate_staff_sign_in_per_address", self._address(request)))
        if problem := staff.password_problem(password):
            raise Refused(422, "bad_password", problem)
        hashed = await staff.hash_password(password)
        async with self.services.pool.acquire() as conn, conn.transaction():
            account_id = await sstaff.take_invitation(conn, staff.opaque_hash(token))
            if account_id is None:
                raise Refused(410, "invitation_used", "this invitation link was used or has expired; ask for a new one")
            await sstaff.set_password(conn, account_id, hashed)
        return web.json_response({"ok": True})

    def _send(self, message: EmailMessage) -> None:
        task = asyncio.create_task(self._deliver(message))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)

    async def _deliver(self, message: EmailMessage) -> None:
        try:
            await self.mailer.send(message)
        except Exception:
            log.exception("could not send a staff email")

    async def close(self) -> None:
        await asyncio.gather(*self._mailing, return_exceptions=True)


def _page(name: str) -> web.Response:
    text = (resources.files("zora") / "static" / name).read_text()
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": "frame-ancestors 'none'"},
    )


def settings_page(name: str = "admin.html") -> web.Response:
    """The embedded settings page (or analytics page), outside Shopify admin: without the CDN scripts (App
    Bridge would try to put it back into admin), with the staff token source and links to the staff pages."""
    text = (resources.files("zora") / "static" / name).read_text()
    text = text.replace(' href="/admin/analytics"', ' href="/staff/analytics"').replace(
        ' href="/admin"', ' href="/staff/settings"'
    )
    for line in text.splitlines(keepends=True):
        if "cdn.shopify.com" in line and line.lstrip().startswith("<script"):
            text = text.replace(line, "")
    text = text.replace("{{API_KEY}}", "").replace("<script>", '<script src="/staff/staff.js"></script>\n<script>', 1)
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": "frame-ancestors 'none'"},
    )


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    api_key: web.AppKey[StaffApi] = web.AppKey("staff_api", StaffApi)

    async def api_ctx(app: web.Application) -> Any:
        app[api_key] = StaffApi(app[services_key])
        yield
        await app[api_key].close()

    app.cleanup_ctx.append(api_ctx)

    def route(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                response: web.StreamResponse = await getattr(request.app[api_key], name)(request)
            except Refused as exc:
                response = exc.response
            except RateLimited as exc:
                response = web.json_response(
                    {
                        "error": {"code": "rate_limited", "message": "too many attempts; try again later"},
                        "retry_after": exc.retry_after,
                    },
                    status=429,
                )
                response.headers["Retry-After"] = str(exc.retry_after)
            response.headers["Cache-Control"] = "no-store"
            return response

        return handler

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("staff.js",):
            raise web.HTTPNotFound()
        body = (resources.files("zora") / "static" / name).read_bytes()
        return web.Response(body=body, content_type="text/javascript", headers={"Cache-Control": "no-cache"})

    async def sign_in_page(_request: web.Request) -> web.Response:
        return _page("staff.html")

    async def settings(_request: web.Request) -> web.Response:
        return settings_page()

    app.router.add_get("/staff", sign_in_page)
    # The invitation link's token is in the fragment, which browsers never send (nor log) to servers.
    app.router.add_get("/staff/invite", sign_in_page)
    app.router.add_get("/staff/settings", settings)
    app.router.add_get("/staff/{name}", static)
    for method, path, name in (
        ("POST", "/staff/api/sign-in", "sign_in"),
        ("POST", "/staff/api/verify", "verify"),
        ("POST", "/staff/api/refresh", "refresh"),
        ("GET", "/staff/api/me", "me"),
        ("DELETE", "/staff/api/sessions/{session_id}", "revoke"),
        ("POST", "/staff/api/sign-out", "sign_out"),
        ("POST", "/staff/api/password", "change_password"),
        ("POST", "/staff/api/accept", "accept"),
        ("POST", "/admin/api/staff/invitations", "invite"),
    ):
        app.router.add_route(method, path, route(name))
