"""The routes of "Connect Slack" (issue 11 §2): the browser's side of Slack's OAuth flow
(zora/slack_oauth.py) and the admin API the settings page calls, each acting for the shop its App
Bridge session token names (zora.admin.authenticate)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from zora.admin import authenticate
from zora.services import Services
from zora.slack_api import hint
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

    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(REDIRECT_PATH, callback)
    app.router.add_post("/admin/api/slack/install", start)
    app.router.add_get("/admin/api/slack", status)


async def slack_status(services: Services, shop_id: int) -> dict[str, object]:
    """What the settings page shows about the shop's Slack, with what to do when it is not working."""
    async with services.pool.acquire() as conn:
        workspace = await sslack.shop_workspace(conn, shop_id)
        installation = (
            await sslack.find_installation(conn, workspace.enterprise_id, workspace.team_id)
            if workspace is not None and workspace.team_id
            else None
        )
    connected = workspace is not None and workspace.team_id is not None
    channel = workspace.channel if workspace else None
    error = workspace.error if workspace else None
    state = "not_connected"
    todo = "Add Zora to your Slack workspace."
    if connected and installation is None:
        state, todo = "disconnected", "Slack disconnected: add Zora to Slack again. Waiting messages are kept."
    elif connected and channel is None:
        state, todo = "no_channel", "Pick the channel where shoppers' conversations appear."
    elif connected and error is not None:
        state, todo = "error", hint(error)
    elif connected:
        state, todo = "ok", ""
    return {
        "state": state,
        "team": {"id": workspace.team_id, "name": installation.team_name if installation else None}
        if connected and workspace
        else None,
        "channel": channel,
        "error": error,
        "todo": todo,
    }
