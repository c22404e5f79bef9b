"""Connecting a shop to its own Slack workspace (issue 11 §2): Slack's OAuth v2 flow through bolt's
OAuth support, with bolt's installation store and state store kept in PostgreSQL.

The flow: the admin page (authenticated by its App Bridge session token) asks for an install link;
Zora issues an OAuth state naming the shop (`slack_oauth_states`) and answers
`/slack/install?state=...`. The browser opens that link top-level (Slack's page cannot be framed):
Zora sets bolt's state cookie and redirects to Slack's authorize page. Slack sends the browser back to
`/slack/oauth_redirect?code&state`; bolt checks the cookie against the state (the same browser started
it), uses the state once, exchanges the code with `oauth.v2.access`, and our `store_installation`
keeps the bot token sealed and connects the shop the state names, never one the request names.

Bolt's authorize reads the same store, per team, for every event (`bot_only`): a workspace without a
stored installation is served by SLACK_BOT_TOKEN when that token's own workspace is the event's (the
single-workspace set-up of self-hosters), and by nobody otherwise.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from zora.db import Pool
from zora.security import seal, unseal
from zora.settings import Settings
from zora.slack_api import SlackGateway, workspaces_changed
from zora.slack_app import BOT_SCOPES
from zora.store import slack as sslack

log = logging.getLogger(__name__)

# How long an "Add to Slack" link and its cookie stay good: time to pick a workspace and click Allow.
STATE_SECONDS = 600
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

# What a merchant reads when the flow fails, by bolt's reason.
_FAILURES = {
    "access_denied": "Slack was not connected: the install was cancelled in Slack.",
    "invalid_browser": "This browser did not start this install. Start again from Zora's settings page.",
    "invalid_state": "This install link was already used or has expired. Start again from Zora's settings page.",
    "missing_code": "Slack did not say which install this is. Start again from Zora's settings page.",
    "invalid_code": "Slack did not accept this install. Start again from Zora's settings page.",
    "storage_error": "The shop that started this install is not installed any more. Open Zora from Shopify admin.",
}


def authorize_url(settings: Settings) -> str:
    """Slack's authorize page beside its Web API (https://slack.com/api/ -> https://slack.com/oauth/v2/authorize;
    a stand-in's base URL gives the stand-in's page)."""
    return settings.slack_api_url.removesuffix("api/") + "oauth/v2/authorize"


def redirect_uri(settings: Settings) -> str:
    return (settings.public_url or "").rstrip("/") + REDIRECT_PATH


class _OAuthClient(AsyncWebClient):
    """slack_sdk sends the client credentials of oauth.v2.access with aiohttp's BasicAuth, deprecated
    (a warning on every install); Slack takes them as form fields as well."""

    async def oauth_v2_access(  # type: ignore[override]
        self, *, client_id: str, client_secret: str, code: str, redirect_uri: str | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        form = {"client_id": client_id, "client_secret": client_secret, "code": code}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        return await self.api_call("oauth.v2.access", data=form)


class PgStateStore(AsyncOAuthStateStore):
    """bolt's state store: a state is issued for one shop, used once, within STATE_SECONDS."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @property
    def logger(self) -> logging.Logger:
        return log

    async def issue_for(self, shop_id: int) -> str:
        state = secrets.token_urlsafe(32)
        async with self.pool.acquire() as conn:
            await sslack.issue_state(conn, state, shop_id, STATE_SECONDS)
        return state

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        # bolt's own install page would issue a state for no shop: Zora starts installs from the admin API.
        raise BoltError("Slack installs start from Zora's settings page (issue_for)")

    async def async_consume(self, state: str) -> bool:
        async with self.pool.acquire() as conn:
            return await sslack.consume_state(conn, state)


class PgInstallationStore(AsyncInstallationStore):
    """bolt's installation store, bot tokens sealed. `default` is the SLACK_BOT_TOKEN installation, which
    answers for its own workspace when that workspace connected no installation of its own."""

    def __init__(self, pool: Pool, settings: Settings, default: SlackGateway | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.default = default
        self._default_bot_found: Bot | None = None

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        async with self.pool.acquire() as conn:
            await sslack.save_installation(conn, self.stored(installation))
        workspaces_changed()

    def stored(self, installation: Installation) -> sslack.StoredInstallation:
        if not installation.bot_token:
            raise BoltError("Slack granted no bot token (the app must ask for bot scopes)")
        return sslack.StoredInstallation(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=bool(installation.is_enterprise_install),
            enterprise_name=installation.enterprise_name,
            team_name=installation.team_name,
            app_id=installation.app_id,
            bot_id=installation.bot_id,
            bot_user_id=installation.bot_user_id,
            sealed_bot_token=seal(self.settings.secret(), installation.bot_token),
            bot_scopes=list(installation.bot_scopes or []),
            installed_by=installation.user_id,
            installed_at=installation.installed_at,  # type: ignore[arg-type]  # the database sets it
            revoked_at=None,
        )

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        async with self.pool.acquire() as conn:
            found = await sslack.find_installation(
                conn, enterprise_id, team_id, is_enterprise_install=bool(is_enterprise_install)
            )
        if found is not None:
            return Bot(
                app_id=found.app_id,
                enterprise_id=found.enterprise_id,
                enterprise_name=found.enterprise_name,
                team_id=found.team_id,
                team_name=found.team_name,
                bot_token=unseal(self.settings.sealing_keys(), found.sealed_bot_token),
                bot_id=found.bot_id or "",
                bot_user_id=found.bot_user_id or "",
                bot_scopes=found.bot_scopes,
                is_enterprise_install=found.is_enterprise_install,
                installed_at=found.installed_at,
            )
        return await self._default_bot(team_id)

    async def _default_bot(self, team_id: str | None) -> Bot | None:
        default = self.default
        if default is None or default.installation.token() is None or team_id is None:
            return None
        if self._default_bot_found is None:
            # Asked of Slack once per process, not per event.
            auth = await default.auth_test()
            self._default_bot_found = Bot(
                team_id=str(auth.get("team_id") or ""),
                bot_token=default.installation.token() or "",
                bot_id=str(auth.get("bot_id") or ""),
                bot_user_id=str(auth.get("user_id") or ""),
                installed_at=0.0,
            )
        return self._default_bot_found if self._default_bot_found.team_id == team_id else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """app_uninstalled / tokens_revoked (bolt's revocation listeners): the token is dead. Kept as a
        revoked row and an error on the workspace's shops ("Slack disconnected"): their messages wait,
        undelivered, until the workspace is connected again."""
        async with self.pool.acquire() as conn, conn.transaction():
            shops = await sslack.revoke(conn, enterprise_id, team_id)
        workspaces_changed()
        log.warning(
            "Slack workspace %s removed Zora; shops %s are disconnected until it is added again", team_id, shops
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        # No user tokens are kept: a revoked user token leaves the bot working.
        return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        # Zora keeps bots only (no user tokens): bolt is set to bot_only and never asks this.
        return None


class ZoraOAuthFlow(AsyncOAuthFlow):
    """bolt's flow, with the shop carried in the state: the installation is stored and the shop
    connected in one transaction."""

    def __init__(self, pool: Pool, settings: Settings, store: PgInstallationStore, states: PgStateStore) -> None:
        assert settings.slack_client_id and settings.slack_client_secret
        self.pool = pool
        self.zora_settings = settings
        self.states = states
        self.store = store
        super().__init__(
            client=_OAuthClient(base_url=settings.slack_api_url),
            settings=AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                scopes=list(BOT_SCOPES),
                redirect_uri=redirect_uri(settings),
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                authorization_url=authorize_url(settings),
                installation_store=store,
                installation_store_bot_only=True,
                state_store=states,
                state_expiration_seconds=STATE_SECONDS,
                callback_options=AsyncCallbackOptions(success=self._success, failure=_failure),
            ),
        )

    async def start(self, state: str) -> BoltResponse:
        """The install link: the state's cookie for this browser, then Slack's authorize page."""
        async with self.pool.acquire() as conn:
            shop_id = await sslack.pending_state(conn, state)
        if shop_id is None:
            return _page(400, "Link expired", _FAILURES["invalid_state"])
        return BoltResponse(
            status=302,
            body="",
            headers={
                "Location": self.settings.authorize_url_generator.generate(state=state),
                "Set-Cookie": [self.settings.state_utils.build_set_cookie_for_new_state(state)],
                "Cache-Control": "no-store",
            },
        )

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        state = (request.query.get("state") or [""])[0]
        stored = self.store.stored(installation)
        async with self.pool.acquire() as conn, conn.transaction():
            shop_id = await sslack.consumed_state_shop(conn, state)
            if shop_id is None or not await sslack.shop_installed(conn, shop_id):
                raise BoltError("the state names no installed shop")
            await sslack.save_installation(conn, stored)
            await sslack.connect_shop(conn, shop_id, installation.enterprise_id, installation.team_id or "")
            # For the page that follows: a way back to the shop's admin.
            request.context["zora_shop"] = await sslack.shop_domain(conn, shop_id)
        workspaces_changed()
        log.info("shop %s connected Slack workspace %s", shop_id, installation.team_id)

    async def _success(self, args: AsyncSuccessArgs) -> BoltResponse:
        team = args.installation.team_name or args.installation.team_id or "your workspace"
        shop = args.request.context.get("zora_shop")
        settings = self.zora_settings
        back = (
            f"{settings.shopify_admin_base_url.format(shop=shop)}/admin/apps/{settings.shopify_api_key}"
            if shop and settings.shopify_api_key
            else None
        )
        return _page(
            200,
            "Slack connected",
            f"Zora is now in {team}. Go back to Zora's settings page in Shopify admin and pick the channel"
            " where shoppers' conversations appear.",
            link=(back, "Back to Zora in Shopify admin") if back else None,
        )


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    log.info("Slack install refused: %s", args.reason)
    message = _FAILURES.get(args.reason, "Slack was not connected. Start again from Zora's settings page.")
    return _page(args.suggested_status_code, "Slack was not connected", message)


def _page(status: int, title: str, message: str, link: tuple[str, str] | None = None) -> BoltResponse:
    body = (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f'<body style="font-family:system-ui;max-width:36em;margin:4em auto"><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>'
    )
    if link is not None:
        body += f'<p><a href="{html.escape(link[0], quote=True)}">{html.escape(link[1])}</a></p>'
    return BoltResponse(
        status=status,
        body=body,
        # The state cookie has done its work either way.
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Set-Cookie": ["slack-app-oauth-state=deleted; Secure; HttpOnly; Path=/; Max-Age=0"],
        },
    )


def install_link(settings: Settings, state: str) -> str:
    return (settings.public_url or "").rstrip("/") + INSTALL_PATH + "?" + urlencode({"state": state})
