"""Who may act as an agent for which shop.

A shop's agents are the members of its Slack channel and, when the shop names one in its settings
(`agents_usergroup`), the members of that user group. Only they may search and edit the shop's
customers, press its conversation buttons and see its conversations. Slack is the authority:
member lists come from `conversations.members` (paged) and `usergroups.users.list`, and are kept in
Redis for a short time (SLACK_ACCESS_CACHE_SECONDS), so someone removed from the channel loses access
within that time. When Slack cannot answer, nobody is let in on that account (fail closed) and the
person is told why.

A shop belongs to a workspace when it has no Slack team recorded or that team is the workspace's;
it is served there when it has a channel or names an agents user group.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import redis.asyncio as aioredis
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.deps import BotDeps
from zora.db import Pool
from zora.errors import ZoraError
from zora.shop_settings import parse_settings
from zora.slack_api import SlackGateway, classify
from zora.store import shops as sshops

log = logging.getLogger(__name__)

# conversations.members pages: Slack recommends at most 200 per call. A channel bigger than
# MAX_PAGES pages is refused rather than read forever.
PAGE_SIZE = 200
MAX_PAGES = 500
# Shops checked at once when listing the ones a person may see.
CONCURRENT_CHECKS = 8
# Stored in every cached set, so an empty channel is still a cached answer (Redis drops empty sets).
_PRESENT = "-"

Source = Literal["channel", "usergroup"]

NO_SHOP = (
    "You are not an agent of any shop here. A shop's agents are the members of its support channel "
    "(or of the user group it names in its Zora settings); ask to be added there."
)


@dataclass(frozen=True)
class AgentShop:
    id: int
    domain: str
    channel: str | None
    usergroup: str | None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # Why not, in words for the person refused (empty when allowed).
    reason: str = ""
    # Refused only because Slack could not be asked (the person may well be an agent).
    unavailable: bool = False


class AccessUnavailable(ZoraError):
    """Slack could not say who is in a channel or user group; the message is for the person asking."""


def _shop(row: sshops.WorkspaceShop) -> AgentShop:
    try:
        usergroup = parse_settings(row.settings).agents_usergroup
    except ValueError:
        # Settings that no longer validate name no group: only the channel counts (fail closed).
        log.warning("shop %s has settings that do not validate; its agents user group is ignored", row.domain)
        usergroup = None
    return AgentShop(int(row.id), str(row.domain), row.slack_channel_id, usergroup)


def who_may(shop: AgentShop) -> str:
    """Who the shop's agents are, in words (for refusals)."""
    if shop.channel and shop.usergroup:
        return f"members of <#{shop.channel}> or of the user group set in the shop's Zora settings"
    if shop.channel:
        return f"members of <#{shop.channel}>"
    return "members of the user group set in the shop's Zora settings"


class AgentAccess:
    def __init__(self, pool: Pool, redis: aioredis.Redis, slack: SlackGateway, ttl_seconds: float) -> None:
        self.pool = pool
        self.redis = redis
        self.slack = slack
        self.ttl_ms = max(1, int(ttl_seconds * 1000))

    @classmethod
    def of(cls, deps: BotDeps) -> AgentAccess:
        """From the listeners' BotDeps."""
        return cls(deps.pool, deps.redis, deps.slack, deps.access_cache_seconds)

    # ------------------------------------------------------------------ which shops

    async def shops(self, team_id: str) -> list[AgentShop]:
        async with self.pool.acquire() as conn:
            rows = await sshops.in_workspace(conn, team_id)
        return [_shop(r) for r in rows]

    async def shop_by_id(self, team_id: str, shop_id: int) -> AgentShop | None:
        async with self.pool.acquire() as conn:
            row = await sshops.in_workspace_by_id(conn, team_id, shop_id)
        return None if row is None else _shop(row)

    async def shops_for_channel(self, team_id: str, channel: str) -> list[AgentShop]:
        """The shops whose support channel this is (usually one; a team may share a channel between
        shops); none anywhere else (a DM, another channel)."""
        if not channel:
            return []
        async with self.pool.acquire() as conn:
            rows = await sshops.in_workspace_by_channel(conn, team_id, channel)
        return [_shop(r) for r in rows]

    async def shop_by_domain(self, team_id: str, domain: str) -> AgentShop | None:
        name = domain.strip().lower().removeprefix("https://").rstrip("/")
        if "." not in name:
            name += ".myshopify.com"
        async with self.pool.acquire() as conn:
            row = await sshops.in_workspace_by_domain(conn, team_id, name)
        return None if row is None else _shop(row)

    # ------------------------------------------------------------------ who may

    async def check(self, team_id: str, user: str, shop: AgentShop) -> Verdict:
        """Whether `user` may act for `shop`; a yes from either source is enough, a Slack failure
        without a yes is a no that says what went wrong."""
        problem: str | None = None
        sources: list[tuple[Source, str]] = []
        if shop.channel:
            sources.append(("channel", shop.channel))
        if shop.usergroup:
            sources.append(("usergroup", shop.usergroup))
        for kind, ident in sources:
            try:
                if await self._is_member(team_id, shop, kind, ident, user):
                    return Verdict(True)
            except AccessUnavailable as exc:
                problem = f"Zora could not check who may act for {shop.domain}: {exc}"
        if problem is not None:
            return Verdict(False, problem, unavailable=True)
        if not sources:
            return Verdict(False, f"{shop.domain} has no Slack channel, so nobody here acts for it.")
        return Verdict(False, f"Only {shop.domain}'s agents may do that: {who_may(shop)}.")

    async def check_id(self, team_id: str, user: str, shop_id: int) -> Verdict:
        shop = await self.shop_by_id(team_id, shop_id)
        if shop is None:
            return Verdict(False, "This shop is not served in this workspace.")
        return await self.check(team_id, user, shop)

    async def visible(
        self, team_id: str, user: str, among: list[AgentShop] | None = None
    ) -> tuple[list[AgentShop], list[str]]:
        """The shops `user` may act for (among these, or all the workspace's), and what could not be
        checked (said to them, never ignored)."""
        candidates = await self.shops(team_id) if among is None else among
        # Side by side: Slack must have its answer to a command within 3 s, and a workspace may
        # serve many shops whose member lists are not cached yet.
        limit = asyncio.Semaphore(CONCURRENT_CHECKS)

        async def one(shop: AgentShop) -> Verdict:
            async with limit:
                return await self.check(team_id, user, shop)

        verdicts = await asyncio.gather(*(one(shop) for shop in candidates))
        allowed = [shop for shop, verdict in zip(candidates, verdicts, strict=True) if verdict.allowed]
        problems = [verdict.reason for verdict in verdicts if verdict.unavailable]
        return allowed, problems

    async def _is_member(self, team_id: str, shop: AgentShop, kind: Source, ident: str, user: str) -> bool:
        # Per shop as well as per channel or group: a shop that moves to another channel starts afresh,
        # and several Zoras sharing one Redis (as tests do) never read each other's answers.
        key = f"zora:agents:{team_id}:{shop.domain}:{kind}:{ident}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.sismember(key, user)
            cached, member = await pipe.execute()
        if cached:
            return bool(member)
        members = await (self._channel_members(ident) if kind == "channel" else self._usergroup_users(ident))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.sadd(key, _PRESENT, *members)
            pipe.pexpire(key, self.ttl_ms)
            await pipe.execute()
        return user in members

    async def _channel_members(self, channel: str) -> list[str]:
        members: list[str] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            response = await self._call("conversations_members", channel=channel, limit=PAGE_SIZE, cursor=cursor)
            members.extend(str(m) for m in response.get("members") or [])
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members
        raise AccessUnavailable(f"its channel has more than {MAX_PAGES * PAGE_SIZE} members.")

    async def _usergroup_users(self, usergroup: str) -> list[str]:
        response = await self._call("usergroups_users_list", usergroup=usergroup)
        return [str(u) for u in response.get("users") or []]

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await getattr(self.slack, method)(**{k: v for k, v in params.items() if v != ""})
        except SlackApiError as exc:
            raise AccessUnavailable(_explain(exc)) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("Slack %s failed: %r", method, exc)
            raise AccessUnavailable("Slack did not answer; please try again in a moment.") from exc


def _explain(exc: SlackApiError) -> str:
    response = exc.response
    failure = classify(exc)
    error = str(response.get("error") or "unknown_error")
    log.warning("access check: Slack answered %s (%s)", error, response.get("needed") or "")
    if failure.rate_limited:
        wait = f"{failure.retry_after:g}" if failure.retry_after is not None else "a few"
        return f"Slack is limiting Zora's requests; please try again in {wait} seconds."
    if error == "missing_scope":
        return (
            f"Zora's Slack app lacks the `{response.get('needed') or 'needed'}` scope. "
            "An admin should reinstall it from slack/manifest.yml."
        )
    if error in ("channel_not_found", "not_in_channel", "method_not_supported_for_channel_type"):
        return f"Slack does not let Zora read the shop's channel ({error}). Check the channel and that Zora is in it."
    if error == "no_such_subteam":
        return "the user group named in the shop's settings does not exist."
    return f"Slack answered `{error}`; please try again in a moment."
