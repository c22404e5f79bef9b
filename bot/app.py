"""The Slack side: a bolt AsyncApp mounted in Zora's own aiohttp app (never AsyncApp.start())."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.deps import BotDeps
from bot.listeners import register_listeners
from bot.middleware import register_middleware, remember_handled_event
from bot.rate_limits import register_rate_limits
from bot.request_shape import malformed
from zora.push import Emitter
from zora.services import Services
from zora.slack_api import SlackGateway, SlackInstallation
from zora.slack_oauth import PgInstallationStore

log = logging.getLogger(__name__)


class ZoraBoltApp(AsyncApp):
    """Bolt with one step after the listeners (HTTP and Socket Mode alike): remembering the event as
    handled only once its listener succeeded (bot/middleware.py dedupe_events)."""

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        response = await super().async_dispatch(req)
        await remember_handled_event(req.context, response)
        return response


def create_bolt_app(services: Services, emitter: Emitter) -> AsyncApp:
    settings = services.settings
    # One workspace (SLACK_BOT_TOKEN) or Add to Slack; Socket Mode only with the first.
    settings.require_slack()
    if settings.slack_client_id:
        # "Add to Slack": every event is authorised by its workspace's own installation (bolt's
        # authorize over zora/slack_oauth.py's store), SLACK_BOT_TOKEN serving its own workspace only.
        multi: dict[str, Any] = {
            "installation_store": PgInstallationStore(services.pool, settings, services.slack),
            "installation_store_bot_only": True,
            # Token-less: bolt puts each event's installation token on it (the gateway's timeouts).
            "client": SlackGateway.from_settings(
                settings, SlackInstallation(team_id=None, bot_token=None), session=services.slack.client.session
            ).client,
        }
    else:
        # The client carries the bot token and the Web API base URL (real Slack or the stand-in).
        multi = {"client": services.slack.client}
    assert settings.slack_signing_secret
    app = ZoraBoltApp(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Answer Slack only after the work is durable (a Temporal signal): if that fails, Slack retries.
        process_before_response=True,
        **multi,
    )
    if settings.slack_client_id:
        # app_uninstalled / tokens_revoked: the installation store's delete_bot marks it revoked.
        app.enable_token_revocation_listeners()
    register_middleware(app, BotDeps.from_services(services, emitter))
    register_rate_limits(app, services.limiter)
    register_listeners(app)
    return app


def events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        problem = malformed(await request.read(), request.content_type)
        if problem is not None:
            # Not a shape Slack sends (bolt would fail on it with a 500, which Slack retries).
            log.info("refused a malformed Slack request: %s", problem)
            return web.json_response({"ok": False, "error": "malformed_request", "detail": problem}, status=400)
        response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    return handle
