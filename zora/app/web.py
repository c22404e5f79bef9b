"""The web process: socket.io for the widget, Slack events, health checks, static files."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import socketio
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.app import create_bolt_app, events_handler
from bot.outbound import SlackOutbound
from webhooks.shopify import add_routes as add_shopify_routes
from widget.confirm import confirm_handler
from widget.emitter import ServerEmitter
from widget.http import script_response, static_file
from widget.server import WidgetNamespace
from widget.session import proxy_session_handler, session_handler, signout_handler
from widget.uploads import download_handler, upload_handler
from zora.admin import add_routes as add_admin_routes
from zora.analytics import add_routes as add_analytics_routes
from zora.app.relay import FastRelay
from zora.errors import ConfigError
from zora.metrics import metrics_handler
from zora.services import Services, open_services, readiness, redis_timeouts
from zora.settings import Settings
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackWorkspaces
from zora.slack_connect import add_routes as add_slack_connect_routes
from zora.staff_web import add_routes as add_staff_routes
from zora.temporal import Conversations

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
SOCKETIO = web.AppKey("socketio", socketio.AsyncServer)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BOLT_HANDLER: web.AppKey[_Handler] = web.AppKey("bolt_handler")


def _cors_origins(settings: Settings) -> list[str] | str:
    if "*" in settings.cors_allowed_origins:
        return "*"
    origins = list(settings.cors_allowed_origins)
    if settings.public_url:
        origins.append(settings.public_url.rstrip("/"))
    return origins


def create_app(settings: Settings, services: Services | None = None, *, dev: bool = False) -> web.Application:
    """The whole web process. With `services` given (tests, `zora dev`), the caller owns them.

    `dev` (`zora dev` and tests) adds the demo storefront page; `zora web` never serves it.
    """
    app = web.Application(middlewares=[_widget_cors(settings)])
    sio = _socketio(settings, services)
    sio.attach(app, socketio_path="socket.io")
    app[SOCKETIO] = sio
    app.cleanup_ctx.extend([_services_ctx(settings, services), _mount_ctx(sio)])
    _add_routes(app, settings, dev)
    return app


def _socketio(settings: Settings, services: Services | None) -> socketio.AsyncServer:
    assert settings.redis_url is not None or services is not None
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=socketio.AsyncRedisManager(
            (services.settings.redis_url if services else settings.redis_url) or "",
            # Publishing waits at most the socket timeout; the subscriber's blocking read is exempt
            # (redis-py >= 8.0.1), so a quiet channel does not drop it.
            redis_options=redis_timeouts(services.settings if services else settings),
        ),
        # An empty list turns python-socketio's origin check off: storefronts live on many origins and
        # sockets authenticate with a shopper token, not cookies, so the origin proves nothing here.
        cors_allowed_origins=[],
        logger=False,
        engineio_logger=False,
    )


_CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _services_ctx(settings: Settings, services: Services | None) -> _CleanupCtx:
    """The app's services: the caller's, or opened for the app's lifetime (`zora web`)."""

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        if services is not None:
            app[SERVICES] = services
            yield
            return
        async with open_services(settings) as opened:
            app[SERVICES] = opened
            yield

    return services_ctx


def _mount_ctx(sio: socketio.AsyncServer) -> _CleanupCtx:
    """The widget namespace, the Slack side and the relay between them, on the app's services."""

    async def mount_ctx(app: web.Application) -> AsyncIterator[None]:
        svc = app[SERVICES]
        emitter = ServerEmitter(sio)
        conversations = Conversations.from_settings(svc.temporal, svc.settings)
        relay = FastRelay(
            SlackOutbound(
                svc.pool,
                svc.slack,
                emitter,
                CustomerDirectory(svc.pool, svc.settings),
                svc.settings.public_url,
                SlackWorkspaces(svc.slack, svc.pool, svc.settings),
            ),
            conversations.hand_over,
            conversations.opened,
        )
        namespace = WidgetNamespace(svc, relay, emitter)
        sio.register_namespace(namespace)
        namespace.start()
        bolt = create_bolt_app(svc, emitter)
        app[BOLT_HANDLER] = events_handler(bolt)
        socket_mode = await _socket_mode(svc, bolt)
        # Everything built so far lives as long as the process: out of the collector's way, so its
        # full passes (60-160 ms measured on the relay path) scan only what requests create.
        gc.collect()
        gc.freeze()
        yield
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        await relay.close()
        await sio.shutdown()
        await namespace.close()

    return mount_ctx


async def _socket_mode(svc: Services, bolt: AsyncApp) -> AsyncSocketModeHandler | None:
    """Socket Mode: Slack delivers events over a websocket this process opens, so a laptop without a
    public URL can run against a real workspace. Same listeners either way. None without SLACK_APP_TOKEN."""
    if svc.settings.slack_app_token is None:
        return None
    app_token = svc.settings.slack_app_token.get_secret_value()
    try:
        # The handler would retry a refused token forever; ask once and fail clearly.
        await svc.slack.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise ConfigError(
            f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')}): use the app-level"
            " token (xapp-...) with the connections:write scope"
        ) from None
    socket_mode = AsyncSocketModeHandler(bolt, app_token, web_client=svc.slack.client)
    await socket_mode.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    return socket_mode


async def _slack_events(request: web.Request) -> web.StreamResponse:
    return await request.app[BOLT_HANDLER](request)


async def _widget_session(request: web.Request) -> web.Response:
    return await session_handler(request, request.app[SERVICES], request.app[SOCKETIO])


async def _proxy_session(request: web.Request) -> web.Response:
    return await proxy_session_handler(request, request.app[SERVICES], request.app[SOCKETIO])


async def _widget_signout(request: web.Request) -> web.Response:
    return await signout_handler(request, request.app[SERVICES], request.app[SOCKETIO])


async def _widget_confirm(request: web.Request) -> web.Response:
    return await confirm_handler(request, request.app[SERVICES])


async def _widget_upload(request: web.Request) -> web.Response:
    return await upload_handler(request, request.app[SERVICES])


async def _widget_download(request: web.Request) -> web.Response:
    return await download_handler(request, request.app[SERVICES])


async def _widget_js(request: web.Request) -> web.Response:
    # widget.js, or widget-ai.js: the assistant's part, which widget.js loads for shops whose assistant is on.
    return script_response(request, "widget-ai.js" if request.path == "/widget-ai.js" else "widget.js")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _readyz(request: web.Request) -> web.Response:
    # Anyone who reaches the port may ask: the answer says which check failed, never why (an error
    # text can name hosts, users, paths). The why goes to the log.
    checks = await readiness(request.app[SERVICES])
    for name, detail in checks.items():
        if detail != "ok":
            log.error("readiness check %s failed: %s", name, detail)
    ok = all(v == "ok" for v in checks.values())
    public = {name: "ok" if detail == "ok" else "failed" for name, detail in checks.items()}
    return web.json_response({"ok": ok, "checks": public}, status=200 if ok else 503)


def _add_routes(app: web.Application, settings: Settings, dev: bool) -> None:
    async def demo(request: web.Request) -> web.Response:
        shop = request.query.get("shop", settings.demo_shop)
        page = static_file("demo.html").decode().replace("{{SHOP}}", _attr(shop))
        return web.Response(text=page, content_type="text/html")

    app.router.add_post("/slack/events", _slack_events)
    app.router.add_route("*", "/widget/session", _widget_session)
    app.router.add_route("*", "/widget/files", _widget_upload)
    app.router.add_route("*", "/widget/signout", _widget_signout)
    # The link in an address-confirmation email: GET shows a button, POST confirms (a mail scanner
    # that fetches links confirms nothing).
    app.router.add_get("/widget/confirm", _widget_confirm)
    app.router.add_post("/widget/confirm", _widget_confirm)
    app.router.add_get("/widget/files/{file_id}", _widget_download)
    app.router.add_route("GET", "/proxy/session", _proxy_session)
    app.router.add_route("POST", "/proxy/session", _proxy_session)
    app.router.add_get("/widget.js", _widget_js)
    app.router.add_get("/widget-ai.js", _widget_js)
    if dev:
        app.router.add_get("/demo", demo)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", metrics_handler(settings, dev=dev))
    add_shopify_routes(app, SERVICES)
    add_admin_routes(app, SERVICES)
    # Before the staff routes: their /staff/{name} would take /staff/analytics.
    add_analytics_routes(app, SERVICES)
    add_staff_routes(app, SERVICES)

    add_slack_connect_routes(app, SERVICES)


def _attr(value: str) -> str:
    import html

    return html.escape(value, quote=True)


def _widget_cors(settings: Settings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """CORS for the widget's HTTP calls: storefronts live on other origins than Zora."""
    allowed = _cors_origins(settings)
    routes = {"/widget/session", "/widget/files", "/widget/signout"}

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path not in routes:
            return await handler(request)
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        elif request.method != "POST":
            response = web.json_response({"error": {"code": "method_not_allowed", "message": "use POST"}}, status=405)
        else:
            response = await handler(request)
        if origin and (allowed == "*" or origin in allowed):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        return response

    return middleware
