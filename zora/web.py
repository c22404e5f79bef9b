"""The web process: socket.io for the widget, Slack events, health checks, static files."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import socketio
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.app import create_bolt_app, events_handler
from bot.outbound import SlackOutbound
from bot.relay import FastRelay
from webhooks.shopify import add_routes as add_shopify_routes
from widget.emitter import ServerEmitter
from widget.server import (
    WidgetNamespace,
    confirm_handler,
    download_handler,
    proxy_session_handler,
    session_handler,
    signout_handler,
    static_file,
    upload_handler,
)
from zora.admin import add_routes as add_admin_routes
from zora.errors import ConfigError
from zora.metrics import metrics_handler
from zora.models import ConversationConfig, ConversationRef, DeliverRequest, Opened
from zora.services import Services, open_services, redis_timeouts
from zora.settings import Settings
from zora.shopify.customers import CustomerDirectory
from zora.store import schema
from zora.temporal import signal_conversation

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
    assert settings.redis_url is not None or services is not None
    sio = socketio.AsyncServer(
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
    sio.attach(app, socketio_path="socket.io")
    app[SOCKETIO] = sio

    async def services_ctx(app: web.Application) -> AsyncIterator[None]:
        if services is not None:
            app[SERVICES] = services
            yield
            return
        async with open_services(settings) as opened:
            app[SERVICES] = opened
            yield

    async def mount_ctx(app: web.Application) -> AsyncIterator[None]:
        svc = app[SERVICES]
        emitter = ServerEmitter(sio)
        config = ConversationConfig(idle_close_seconds=svc.settings.idle_close_hours * 3600)

        async def handoff(ref: ConversationRef, retry_after: float) -> None:
            await signal_conversation(
                svc.temporal,
                svc.settings.temporal_task_queue,
                ref,
                config,
                "deliver",
                DeliverRequest(reason="fast path failed", retry_after_seconds=retry_after),
            )

        async def opener(ref: ConversationRef, at: datetime) -> None:
            await signal_conversation(
                svc.temporal, svc.settings.temporal_task_queue, ref, config, "opened", Opened(at=at)
            )

        relay = FastRelay(
            SlackOutbound(
                svc.pool, svc.slack, emitter, CustomerDirectory(svc.pool, svc.settings), svc.settings.public_url
            ),
            handoff,
            opener,
        )
        namespace = WidgetNamespace(svc, relay, emitter)
        sio.register_namespace(namespace)
        namespace.start()
        bolt = create_bolt_app(svc, emitter)
        app[BOLT_HANDLER] = events_handler(bolt)
        socket_mode = None
        if svc.settings.slack_app_token is not None:
            # Socket Mode: Slack delivers events over a websocket this process opens, so a laptop
            # without a public URL can run against a real workspace. Same listeners either way.
            app_token = svc.settings.slack_app_token.get_secret_value()
            try:
                # The handler would retry a refused token forever; ask once and fail clearly.
                await svc.slack.apps_connections_open(app_token=app_token)
            except SlackApiError as exc:
                raise ConfigError(
                    f"SLACK_APP_TOKEN was refused by Slack ({exc.response.get('error')}): use the app-level"
                    " token (xapp-...) with the connections:write scope"
                ) from None
            socket_mode = AsyncSocketModeHandler(bolt, app_token, web_client=svc.slack)
            await socket_mode.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected to Slack in Socket Mode")
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

    app.cleanup_ctx.extend([services_ctx, mount_ctx])

    async def slack_events(request: web.Request) -> web.StreamResponse:
        return await request.app[BOLT_HANDLER](request)

    async def widget_session(request: web.Request) -> web.Response:
        return await session_handler(request, request.app[SERVICES], request.app[SOCKETIO])

    async def proxy_session(request: web.Request) -> web.Response:
        return await proxy_session_handler(request, request.app[SERVICES], request.app[SOCKETIO])

    async def widget_signout(request: web.Request) -> web.Response:
        return await signout_handler(request, request.app[SERVICES], request.app[SOCKETIO])

    async def widget_confirm(request: web.Request) -> web.Response:
        return await confirm_handler(request, request.app[SERVICES])

    async def widget_upload(request: web.Request) -> web.Response:
        return await upload_handler(request, request.app[SERVICES])

    async def widget_download(request: web.Request) -> web.Response:
        return await download_handler(request, request.app[SERVICES])

    async def widget_js(request: web.Request) -> web.Response:
        return web.Response(
            body=static_file("widget.js"),
            content_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    async def demo(request: web.Request) -> web.Response:
        shop = request.query.get("shop", settings.demo_shop)
        page = static_file("demo.html").decode().replace("{{SHOP}}", _attr(shop))
        return web.Response(text=page, content_type="text/html")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        # Anyone who reaches the port may ask: the answer says which check failed, never why (an error
        # text can name hosts, users, paths). The why goes to the log.
        checks = await readiness(request.app[SERVICES])
        for name, detail in checks.items():
            if detail != "ok":
                log.error("readiness check %s failed: %s", name, detail)
        ok = all(v == "ok" for v in checks.values())
        public = {name: "ok" if detail == "ok" else "failed" for name, detail in checks.items()}
        return web.json_response({"ok": ok, "checks": public}, status=200 if ok else 503)

    app.router.add_post("/slack/events", slack_events)
    app.router.add_route("*", "/widget/session", widget_session)
    app.router.add_route("*", "/widget/files", widget_upload)
    app.router.add_route("*", "/widget/signout", widget_signout)
    # The link in an address-confirmation email: GET shows a button, POST confirms (a mail scanner
    # that fetches links confirms nothing).
    app.router.add_get("/widget/confirm", widget_confirm)
    app.router.add_post("/widget/confirm", widget_confirm)
    app.router.add_get("/widget/files/{file_id}", widget_download)
    app.router.add_route("GET", "/proxy/session", proxy_session)
    app.router.add_route("POST", "/proxy/session", proxy_session)
    app.router.add_get("/widget.js", widget_js)
    if dev:
        app.router.add_get("/demo", demo)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler(settings, dev=dev))
    add_shopify_routes(app, SERVICES)
    add_admin_routes(app, SERVICES)
    return app


def _attr(value: str) -> str:
    import html

    return html.escape(value, quote=True)


async def readiness(services: Services) -> dict[str, str]:
    async def database() -> None:
        async with services.pool.acquire() as conn:
            await schema.ping(conn)

    async def redis() -> None:
        await services.redis.ping()

    async def temporal() -> None:
        await services.temporal.service_client.check_health()

    checks: dict[str, str] = {}
    for name, probe in (("database", database), ("redis", redis), ("temporal", temporal)):
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    return checks


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
