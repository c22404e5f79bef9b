"""The routes of "Connect Slack" (issue 11 §2): the browser's side of Slack's OAuth flow
(zora/slack_oauth.py) and the admin API the settings page calls, each acting for the shop its App
Bridge session token names (zora.admin.authenticate)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.errors import SlackApiError

from zora.admin import authenticate
from zora.services import Services
from zora.settings import Settings
from zora.slack_api import INSTALL_ERRORS, SlackWorkspaces, classify, hint
from zora.slack_oauth import (
    INSTALL_PATH,
    REDIRECT_PATH,
    PgInstallationStore,
    PgStateStore,
    ZoraOAuthFlow,
    install_link,
)
from zora.store import slack as sslack

FLOW: web.AppKey[ZoraOAuthFlow | None] = web.AppKey("slack_oauth_flow")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _not_configured() -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": "not_configured",
                "message": "this Zora has no Slack app for Add to Slack (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET)",
            }
        },
        status=409,
        headers={"Cache-Control": "no-store"},
    )


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    async def flow_ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[services_key]
        settings = services.settings
        app[FLOW] = None
        if settings.slack_client_id and settings.slack_client_secret:
            store = PgInstallationStore(services.pool, settings, services.slack)
            app[FLOW] = ZoraOAuthFlow(services.pool, settings, store, PgStateStore(services.pool))
        yield

    app.cleanup_ctx.append(flow_ctx)

    async def install(request: web.Request) -> web.StreamResponse:
        flow = request.app[FLOW]
        if flow is None:
            return _not_configured()
        return await to_aiohttp_response(await flow.start(request.query.get("state", "")))

    async def callback(request: web.Request) -> web.StreamResponse:
        flow = request.app[FLOW]
        if flow is None:
            return _not_configured()
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    async def start(request: web.Request) -> web.StreamResponse:
        """The admin page's "Add to Slack": a link, good once for a few minutes, for this shop."""
        services = request.app[services_key]
        caller = await authenticate(request, services)
        flow = request.app[FLOW]
        if flow is None:
            return _not_configured()
        await services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        state = await flow.states.issue_for(caller.shop_id)
        return web.json_response({"url": install_link(services.settings, state)}, headers={"Cache-Control": "no-store"})

    async def status(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        caller = await authenticate(request, services)
        return web.json_response(await slack_status(services, caller.shop_id), headers={"Cache-Control": "no-store"})

    _add_picker_routes(app, services_key)
    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(REDIRECT_PATH, callback)
    app.router.add_post("/admin/api/slack/install", start)
    app.router.add_get("/admin/api/slack", status)


def _add_picker_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    """The channel picker's routes: list, choose, test post."""

    async def channels(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        caller = await authenticate(request, services)
        await services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        return await ChannelPicker(services).list(caller.shop_id, request.query.get("cursor") or None)

    async def choose(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        caller = await authenticate(request, services)
        await services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        try:
            body = await request.json()
        except ValueError:
            body = None
        channel = body.get("channel") if isinstance(body, dict) else None
        if not isinstance(channel, str) or not channel.isalnum() or len(channel) > 32:
            return web.json_response(
                {"error": {"code": "bad_request", "message": 'send {"channel": "<a channel id>"}'}}, status=400
            )
        return await ChannelPicker(services).choose(caller.shop_id, channel)

    async def test_post(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        caller = await authenticate(request, services)
        await services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        return await ChannelPicker(services).test_post(caller.shop_id)

    app.router.add_get("/admin/api/slack/channels", channels)
    app.router.add_put("/admin/api/slack/channel", choose)
    app.router.add_post("/admin/api/slack/test", test_post)


def lends_token(settings: Settings, workspace: sslack.ShopWorkspace | None) -> bool:
    """Whether SLACK_BOT_TOKEN's workspace serves a shop that connected none of its own: always in the
    single-workspace set-up; with Add to Slack (SLACK_CLIENT_ID) only a shop the operator gave a channel
    there. Any shop may install the app: one that did must not list, join or post in the operator's
    workspace, where other shops' conversations may be."""
    if workspace is None or workspace.team_id is not None or settings.slack_bot_token is None:
        return False
    return settings.slack_client_id is None or workspace.channel is not None


async def slack_status(services: Services, shop_id: int) -> dict[str, object]:
    """What the settings page shows about the shop's Slack, with what to do when it is not working."""
    async with services.pool.acquire() as conn:
        workspace = await sslack.shop_workspace(conn, shop_id)
        installation = (
            await sslack.find_installation(conn, workspace.enterprise_id, workspace.team_id)
            if workspace is not None and workspace.team_id
            else None
        )
    by_token = lends_token(services.settings, workspace)
    connected = by_token or (workspace is not None and workspace.team_id is not None)
    channel = workspace.channel if workspace else None
    error = workspace.error if workspace else None
    state = "not_connected"
    todo = "Add Zora to your Slack workspace."
    if connected and not by_token and installation is None:
        state, todo = "disconnected", "Slack disconnected: add Zora to Slack again. Waiting messages are kept."
    elif connected and channel is None:
        state, todo = "no_channel", "Pick the channel where shoppers' conversations appear."
    elif connected and error is not None and error in INSTALL_ERRORS and not by_token:
        # The merchant's own install lacks something (a scope added in a release, a revoked token).
        state, todo = "error", f"Add Zora to Slack again to grant what it needs (Slack said: {error})."
    elif connected and error is not None:
        state, todo = "error", hint(error)
    elif connected:
        state, todo = "ok", ""
    team: dict[str, object] | None = None
    if by_token:
        team = await _token_team(services)
    elif connected and workspace:
        team = {"id": workspace.team_id, "name": installation.team_name if installation else None}
    return {
        "state": state,
        "team": team,
        "channel": channel,
        "error": error,
        "todo": todo,
    }


async def _token_team(services: Services) -> dict[str, object]:
    """SLACK_BOT_TOKEN's workspace as Slack names it, so the page says where the shop's messages go (it
    had said "Connected to null")."""
    try:
        auth = await services.slack.auth_test()
    except (SlackApiError, aiohttp.ClientError, TimeoutError):
        return {"id": None, "name": None}
    return {"id": auth.get("team_id"), "name": auth.get("team")}


# Channels one page of the picker shows (Slack's recommended page size is 200 at most).
CHANNEL_PAGE = 200


class ChannelPicker:
    """The settings page's channel picker: the channels of the shop's workspace the bot can use, the
    choice (joining a public channel), and a test post."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def _refused(self, shop_id: int) -> web.Response | None:
        """The answer when the shop has no workspace the picker may act in (lends_token)."""
        async with self.services.pool.acquire() as conn:
            workspace = await sslack.shop_workspace(conn, shop_id)
        if workspace is not None and (workspace.team_id is not None or lends_token(self.services.settings, workspace)):
            return None
        message = "Add Zora to your Slack workspace first."
        return web.json_response(
            {"error": {"code": "not_connected", "message": message}}, status=409, headers=_NO_STORE
        )

    async def list(self, shop_id: int, cursor: str | None) -> web.Response:
        if refused := await self._refused(shop_id):
            return refused
        slack = await SlackWorkspaces(self.services.slack, self.services.pool, self.services.settings).for_shop(shop_id)
        try:
            response = await slack.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=CHANNEL_PAGE, cursor=cursor
            )
        except SlackApiError as exc:
            return _slack_refused(exc)
        channels = [
            {
                "id": c["id"],
                "name": c.get("name"),
                "is_private": bool(c.get("is_private")),
                "is_member": bool(c.get("is_member")),
            }
            for c in response.get("channels") or []
        ]
        next_cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        return web.json_response({"channels": channels, "next_cursor": next_cursor}, headers=_NO_STORE)

    async def choose(self, shop_id: int, channel: str) -> web.Response:
        """Use `channel` for the shop's conversations: it must be in the shop's workspace and usable; a
        public one is joined, a private one needs the bot invited first."""
        if refused := await self._refused(shop_id):
            return refused
        slack = await SlackWorkspaces(self.services.slack, self.services.pool, self.services.settings).for_shop(shop_id)
        try:
            info = (await slack.conversations_info(channel=channel))["channel"]
            if info.get("is_archived"):
                return _channel_problem("is_archived")
            if not info.get("is_member"):
                if info.get("is_private"):
                    return _channel_problem("not_in_channel")
                await slack.conversations_join(channel=channel)
        except SlackApiError as exc:
            return _slack_refused(exc)
        async with self.services.pool.acquire() as conn:
            await sslack.set_channel(conn, shop_id, channel)
        return web.json_response({"channel": channel, "name": info.get("name")}, headers=_NO_STORE)

    async def test_post(self, shop_id: int) -> web.Response:
        async with self.services.pool.acquire() as conn:
            workspace = await sslack.shop_workspace(conn, shop_id)
        if workspace is None or not workspace.channel:
            return _channel_problem("no_channel_configured")
        slack = await SlackWorkspaces(self.services.slack, self.services.pool, self.services.settings).for_shop(shop_id)
        try:
            await slack.chat_postMessage(
                channel=workspace.channel,
                text="Zora is connected: shoppers' conversations will appear in this channel.",
            )
        except SlackApiError as exc:
            return _slack_refused(exc)
        return web.json_response({"ok": True}, headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


def _channel_problem(error: str) -> web.Response:
    return web.json_response({"error": {"code": error, "message": hint(error)}}, status=422, headers=_NO_STORE)


def _slack_refused(exc: SlackApiError) -> web.Response:
    failure = classify(exc)
    status = 429 if failure.rate_limited else 422 if failure.needs_a_person or failure.kind == "gone" else 502
    return web.json_response(
        {"error": {"code": failure.error, "message": failure.hint}}, status=status, headers=_NO_STORE
    )
