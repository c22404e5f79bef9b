"""Zora's one door to Slack's Web API: the installation it speaks for, the calls it makes, and what
Slack's errors mean.

Every Slack call in bot/, activities/ and `zora doctor` goes through a `SlackGateway`, which carries
one workspace's installation (its team and bot token): SLACK_BOT_TOKEN's, or one a shop connected
through "Add to Slack" (issue 11, zora/slack_oauth.py). `SlackWorkspaces.for_shop` is where a shop's
gateway is found.

`classify` is the one reading of a Slack error: rate limited (with Retry-After), the installation
broken (a person must reinstall or grant a scope), the shop's channel unusable, the target gone, or
worth retrying. The fast path, the activities, the access checks and `zora doctor` all decide from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from zora.db import Pool
from zora.http import SLACK_TIMEOUT_SECONDS
from zora.metrics import MeteredWebClient
from zora.security import unseal
from zora.settings import Settings
from zora.store import slack as sslack

SlackErrorKind = Literal["rate_limited", "install", "channel", "gone", "retryable"]

# The installation is broken: the token is wrong, revoked or lacks a scope. A person reinstalls.
INSTALL_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"})
# The shop's channel cannot take Zora's posts (`no_channel_configured` is Zora's own: none is set).
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "no_channel_configured"})
# What the call was about is not there (any more): deleted in Slack.
GONE_ERRORS = frozenset({"thread_not_found", "message_not_found", "file_not_found", "file_deleted"})

_HINTS = {
    "channel_not_found": "the channel was deleted or the id is wrong: set the shop's channel again",
    "not_in_channel": "invite the bot: /invite @Zora in the channel",
    "is_archived": "the channel is archived: unarchive it or choose another",
    "invalid_auth": "the bot token is wrong or revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "token_revoked": "the bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the workspace or bot user is deactivated: reinstall the app",
    "missing_scope": "the app lacks a scope: update it from slack/manifest.yml and reinstall",
}


def hint(error: str) -> str:
    """What an operator does about a Slack error recorded on a shop (shown by `zora doctor`)."""
    return (
        _HINTS.get(error, "see docs/operations.md, 'When Slack fails'")
        + "; waiting messages are delivered, in order, within a minute of the fix"
    )


@dataclass(frozen=True)
class SlackFailure:
    """One Slack error, read once."""

    error: str
    kind: SlackErrorKind
    # Slack's Retry-After in seconds, when it sent one (rate limited only).
    retry_after: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.kind == "rate_limited"

    @property
    def needs_a_person(self) -> bool:
        """No retry fixes it: the installation or the shop's channel must be set right first."""
        return self.kind in ("install", "channel")

    @property
    def hint(self) -> str:
        return hint(self.error)

    def wait(self, default: float) -> float:
        """Seconds until Slack takes calls again: its Retry-After, or the caller's `default`."""
        return self.retry_after if self.retry_after is not None else default


def classify(exc: SlackApiError) -> SlackFailure:
    response = exc.response
    error = str(response.get("error", "unknown_error"))
    if response.status_code == 429:
        return SlackFailure(error=error, kind="rate_limited", retry_after=_retry_after(response.headers))
    if error in INSTALL_ERRORS:
        return SlackFailure(error=error, kind="install")
    if error in CHANNEL_ERRORS:
        return SlackFailure(error=error, kind="channel")
    if error in GONE_ERRORS:
        return SlackFailure(error=error, kind="gone")
    return SlackFailure(error=error, kind="retryable")


def _retry_after(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class SlackInstallation:
    """Zora's app in one Slack workspace: whose token the calls carry."""

    # None until Slack says (auth.test): the single workspace configured by SLACK_BOT_TOKEN. With Add to
    # Slack and no SLACK_BOT_TOKEN, that installation has no token: its calls fail as not_authed.
    team_id: str | None
    bot_token: SecretStr | None

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackInstallation:
        return cls(team_id=None, bot_token=settings.slack_bot_token)

    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None


class _NotConnected(AsyncWebClient):
    """The Web API of an installation with no token (a shop with no workspace under Add to Slack without
    SLACK_BOT_TOKEN, or one whose workspace removed Zora): every call fails as Slack would, `not_authed`,
    without a request, so shops waiting to connect cost Slack nothing and raise no error metric."""

    async def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        data = {"ok": False, "error": "not_authed"}
        url = self.base_url + api_method
        response = AsyncSlackResponse(
            client=self, http_verb="POST", api_url=url, req_args={}, data=data, headers={}, status_code=200
        )
        raise SlackApiError("no token for this workspace: not connected", response)  # type: ignore[no-untyped-call]


class SlackGateway:
    """The Slack Web API calls Zora makes, for one installation. Each method is Slack's method of
    that name with its arguments passed through as given; errors are raised as slack_sdk's
    SlackApiError, for `classify`."""

    def __init__(self, installation: SlackInstallation, client: AsyncWebClient) -> None:
        self.installation = installation
        # For what takes a slack_sdk client itself (bolt, socket mode); Zora's own calls use the methods.
        self.client = client
        self._api = client if installation.token() is not None else _NotConnected(base_url=client.base_url)
        self._team_id = installation.team_id

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        installation: SlackInstallation | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> SlackGateway:
        """`session`: the process's shared Slack session (zora.http.slack_session); without one,
        every call opens and closes a connection of its own."""
        installation = installation or SlackInstallation.from_settings(settings)
        # No retry handlers: Temporal owns retries of Slack calls (429 -> next_retry_delay).
        client = MeteredWebClient(
            token=installation.token(),
            base_url=settings.slack_api_url,
            retry_handlers=[],
            timeout=SLACK_TIMEOUT_SECONDS,
            session=session,
        )
        return cls(installation, client)

    async def team_id(self) -> str:
        """The installation's workspace, asked of Slack once when it is not known."""
        if self._team_id is None:
            response = await self.auth_test()
            self._team_id = str(response["team_id"])
        return self._team_id

    @property
    def proxy(self) -> str | None:
        return self.client.proxy

    @property
    def ssl(self) -> Any:
        return self.client.ssl

    async def auth_test(self) -> AsyncSlackResponse:
        return await self._api.auth_test()

    async def apps_connections_open(self, *, app_token: str) -> AsyncSlackResponse:
        return await self._api.apps_connections_open(app_token=app_token)

    async def chat_postMessage(self, *, channel: str, text: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.chat_postMessage(channel=channel, text=text, **kwargs)

    async def chat_postEphemeral(self, *, channel: str, user: str, text: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.chat_postEphemeral(channel=channel, user=user, text=text, **kwargs)

    async def chat_update(self, *, channel: str, ts: str, text: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.chat_update(channel=channel, ts=ts, text=text, **kwargs)

    async def chat_delete(self, *, channel: str, ts: str) -> AsyncSlackResponse:
        return await self._api.chat_delete(channel=channel, ts=ts)

    # Message streaming (the assistant's answer as it is written, issue 12 §5). Streams go into a channel's
    # thread, where Slack requires the recipient (team and user) of the streamed text.
    async def chat_startStream(
        self, *, channel: str, thread_ts: str, recipient_team_id: str, recipient_user_id: str, markdown_text: str
    ) -> AsyncSlackResponse:
        return await self._api.chat_startStream(
            channel=channel,
            thread_ts=thread_ts,
            recipient_team_id=recipient_team_id,
            recipient_user_id=recipient_user_id,
            markdown_text=markdown_text,
        )

    async def chat_appendStream(self, *, channel: str, ts: str, markdown_text: str) -> AsyncSlackResponse:
        return await self._api.chat_appendStream(channel=channel, ts=ts, markdown_text=markdown_text)

    async def chat_stopStream(self, *, channel: str, ts: str, markdown_text: str | None = None) -> AsyncSlackResponse:
        return await self._api.chat_stopStream(channel=channel, ts=ts, markdown_text=markdown_text)

    async def conversations_history(self, *, channel: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.conversations_history(channel=channel, **kwargs)

    async def conversations_replies(self, *, channel: str, ts: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.conversations_replies(channel=channel, ts=ts, **kwargs)

    async def conversations_info(self, *, channel: str) -> AsyncSlackResponse:
        return await self._api.conversations_info(channel=channel)

    async def conversations_list(self, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.conversations_list(**kwargs)

    async def conversations_join(self, *, channel: str) -> AsyncSlackResponse:
        return await self._api.conversations_join(channel=channel)

    async def conversations_members(self, *, channel: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.conversations_members(channel=channel, **kwargs)

    async def usergroups_users_list(self, *, usergroup: str, **kwargs: Any) -> AsyncSlackResponse:
        return await self._api.usergroups_users_list(usergroup=usergroup, **kwargs)

    async def users_info(self, *, user: str) -> AsyncSlackResponse:
        return await self._api.users_info(user=user)

    async def users_getPresence(self, *, user: str) -> AsyncSlackResponse:
        return await self._api.users_getPresence(user=user)

    async def reactions_add(self, *, channel: str, timestamp: str, name: str) -> AsyncSlackResponse:
        return await self._api.reactions_add(channel=channel, timestamp=timestamp, name=name)

    async def files_getUploadURLExternal(self, *, filename: str, length: int) -> AsyncSlackResponse:
        return await self._api.files_getUploadURLExternal(filename=filename, length=length)

    async def files_completeUploadExternal(
        self, *, files: list[dict[str, str | None]], channel_id: str, thread_ts: str
    ) -> AsyncSlackResponse:
        return await self._api.files_completeUploadExternal(files=files, channel_id=channel_id, thread_ts=thread_ts)

    async def files_delete(self, *, file: str) -> AsyncSlackResponse:
        return await self._api.files_delete(file=file)

    async def views_open(self, *, trigger_id: str, view: dict[str, Any]) -> AsyncSlackResponse:
        return await self._api.views_open(trigger_id=trigger_id, view=view)

    async def views_publish(self, *, user_id: str, view: dict[str, Any]) -> AsyncSlackResponse:
        return await self._api.views_publish(user_id=user_id, view=view)


# How long a process trusts what it read of a shop's workspace and its installation. Every post and
# every Slack event needs them; reading them each time cost one or two queries and unsealing the
# token per post (issue 13 §1). A change made in this process (install, uninstall) is seen at once
# (`workspaces_changed`); one made in another process within this many seconds.
WORKSPACE_CACHE_SECONDS = 5.0


class _Changes:
    """A count of installation changes in this process: every SlackWorkspaces drops what it holds when
    it moves."""

    generation = 0


def workspaces_changed() -> None:
    """A workspace was connected, reinstalled or removed in this process: forget what was read."""
    _Changes.generation += 1


class SlackWorkspaces:
    """Which gateway speaks for which shop. A shop that connected its own workspace ("Add to Slack",
    zora/slack_oauth.py) gets that installation's; one that connected none gets `default` (the
    SLACK_BOT_TOKEN workspace of a single-workspace set-up). A shop whose workspace removed Zora gets a
    gateway with no token: its calls fail as an installation error (`not_authed`), so its messages wait,
    undelivered and in order, until the workspace is connected again.

    What is read is kept for `cache_seconds` (WORKSPACE_CACHE_SECONDS), per shop and per workspace."""

    def __init__(
        self,
        default: SlackGateway,
        pool: Pool | None = None,
        settings: Settings | None = None,
        *,
        cache_seconds: float = WORKSPACE_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.pool = pool
        self.settings = settings
        # One client per token: building one per call would open a connection pool per call.
        self._gateways: dict[str, SlackGateway] = {}
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._generation = _Changes.generation
        # shop -> (read at, its workspace's (team, enterprise)); workspace -> (read at, its gateway)
        self._shops: dict[int, tuple[float, tuple[str | None, str | None]]] = {}
        self._teams: dict[tuple[str, str | None], tuple[float, SlackGateway]] = {}

    def _fresh(self, read_at: float) -> bool:
        return self._clock() - read_at < self._cache_seconds

    def _check_generation(self) -> None:
        if self._generation != _Changes.generation:
            self._generation = _Changes.generation
            self._shops.clear()
            self._teams.clear()

    async def for_shop(self, shop_id: int) -> SlackGateway:
        if self.pool is None:
            return self.default
        self._check_generation()
        cached = self._shops.get(shop_id)
        if cached is not None and self._fresh(cached[0]):
            team_id, enterprise_id = cached[1]
        else:
            async with self.pool.acquire() as conn:
                workspace = await sslack.shop_workspace(conn, shop_id)
            team_id = workspace.team_id if workspace is not None else None
            enterprise_id = workspace.enterprise_id if workspace is not None else None
            self._shops[shop_id] = (self._clock(), (team_id, enterprise_id))
        if team_id is None:
            return self.default
        return await self.for_team(team_id, enterprise_id)

    async def for_team(self, team_id: str | None, enterprise_id: str | None = None) -> SlackGateway:
        """The gateway of a workspace Zora has a thread in (a note, a card: they go where the thread is)."""
        if self.pool is None or self.settings is None or team_id is None:
            return self.default
        self._check_generation()
        cached = self._teams.get((team_id, enterprise_id))
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        gateway = await self._read_team(team_id, enterprise_id)
        self._teams[(team_id, enterprise_id)] = (self._clock(), gateway)
        return gateway

    async def _read_team(self, team_id: str, enterprise_id: str | None) -> SlackGateway:
        assert self.pool is not None and self.settings is not None
        async with self.pool.acquire() as conn:
            found = await sslack.find_installation(conn, enterprise_id, team_id, revoked_too=True)
        disconnected = self._gateway(SlackInstallation(team_id=team_id, bot_token=None))
        if found is None:
            return self.default if await self._default_serves(team_id) else disconnected
        if found.revoked_at is not None:
            return disconnected
        token = unseal(self.settings.sealing_keys(), found.sealed_bot_token)
        return self._gateway(SlackInstallation(team_id=team_id, bot_token=SecretStr(token)))

    async def _default_serves(self, team_id: str) -> bool:
        """Whether SLACK_BOT_TOKEN is this workspace's (never lent to another workspace)."""
        if self.default.installation.token() is None:
            return False
        try:
            return await self.default.team_id() == team_id
        except SlackApiError as exc:
            if classify(exc).kind == "install":
                return False  # a dead token serves nobody
            raise

    def _gateway(self, installation: SlackInstallation) -> SlackGateway:
        assert self.settings is not None
        key = f"{installation.team_id}:{installation.token() or ''}"
        gateway = self._gateways.get(key)
        if gateway is None:
            # Every workspace's calls share the default gateway's connections (one process, one session).
            gateway = self._gateways[key] = SlackGateway.from_settings(
                self.settings, installation, session=self.default.client.session
            )
        return gateway
