"""Side effects of ConversationWorkflow: the transcript in PostgreSQL, Slack, and pushes to the shopper."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from widget.emitter import ShopperEmitter
from zora.logs import conversation_id_var
from zora.models import (
    AgentMessage,
    Author,
    ConversationRef,
    ConversationState,
    LoadConversation,
    PostResult,
    PostToSlack,
    SetStatus,
    SlackThread,
    StoreAgentMessages,
    StoredBatch,
    StoredMessage,
    StoreShopperMessages,
)

log = logging.getLogger(__name__)

# Errors that no retry will fix: the shop's Slack set-up needs a person. Messages stay stored.
SLACK_PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
    }
)

SHOPPER_NAME = "Shopper"

_MESSAGE_COLUMNS = "conversation_id, seq, client_id, direction, author_name, author_avatar, body, created_at, status"


def _stored(row: Any) -> StoredMessage:
    return StoredMessage(
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        client_id=row["client_id"],
        direction=row["direction"],
        author=Author(name=row["author_name"], avatar_url=row["author_avatar"]),
        body=row["body"],
        created_at=row["created_at"],
        status=row["status"],
    )


def wire(message: StoredMessage) -> dict[str, Any]:
    """A message as the widget receives it (docs/widget-protocol.md)."""
    return message.model_dump(mode="json")


class ConversationActivities:
    def __init__(self, pool: Any, slack: AsyncWebClient, emitter: ShopperEmitter) -> None:
        self.pool = pool
        self.slack = slack
        self.emitter = emitter
        self._authors: dict[str, Author] = {}
        self._team_id: str | None = None

    def all(self) -> list[Any]:
        return [
            self.load_conversation,
            self.store_shopper_messages,
            self.post_to_slack,
            self.store_agent_messages,
            self.set_conversation_status,
        ]

    @activity.defn(name="load_conversation")
    async def load_conversation(self, req: LoadConversation) -> ConversationState:
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            conv = await conn.fetchrow(
                "SELECT status, shop_id FROM conversations WHERE id = $1", req.ref.conversation_id
            )
            if conv is None:
                return ConversationState()
            self._check_shop(req.ref, conv["shop_id"])
            thread = await conn.fetchrow(
                "SELECT team_id, channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1",
                req.ref.conversation_id,
            )
            undelivered = await conn.fetch(
                "SELECT seq FROM messages WHERE conversation_id = $1 AND direction = 'shopper'"
                " AND status <> 'delivered' ORDER BY seq",
                req.ref.conversation_id,
            )
        return ConversationState(
            status=conv["status"],
            thread=None
            if thread is None
            else SlackThread(team_id=thread["team_id"], channel=thread["channel_id"], thread_ts=thread["thread_ts"]),
            undelivered=[r["seq"] for r in undelivered],
        )

    @activity.defn(name="store_shopper_messages")
    async def store_shopper_messages(self, req: StoreShopperMessages) -> StoredBatch:
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO shoppers (id, shop_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                ref.shopper_id,
                ref.shop_id,
            )
            await conn.execute(
                "INSERT INTO conversations (id, shop_id, shopper_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                ref.conversation_id,
                ref.shop_id,
                ref.shopper_id,
            )
            conv = await conn.fetchrow(
                "SELECT shop_id, status FROM conversations WHERE id = $1 FOR UPDATE", ref.conversation_id
            )
            self._check_shop(ref, conv["shop_id"])
            existing = {
                r["client_id"]: r
                for r in await conn.fetch(
                    "SELECT client_id, seq, status FROM messages WHERE conversation_id = $1 AND client_id = ANY($2)",
                    ref.conversation_id,
                    [m.client_id for m in req.messages],
                )
            }
            fresh = []
            seen: set[str] = set()
            for m in req.messages:
                if m.client_id not in existing and m.client_id not in seen:
                    seen.add(m.client_id)
                    fresh.append(m)
            reopened = conv["status"] in ("resolved", "closed")
            rows: list[Any] = []
            if fresh:
                last = await conn.fetchval(
                    "UPDATE conversations SET last_seq = last_seq + $2, updated_at = now(),"
                    " status = CASE WHEN status IN ('resolved', 'closed') THEN 'open' ELSE status END,"
                    " closed_at = CASE WHEN status IN ('resolved', 'closed') THEN NULL ELSE closed_at END"
                    " WHERE id = $1 RETURNING last_seq",
                    ref.conversation_id,
                    len(fresh),
                )
                first_seq = last - len(fresh) + 1
                rows = await conn.fetch(
                    f"INSERT INTO messages (shop_id, conversation_id, seq, direction, client_id, author_name, body,"
                    f" status, created_at)"
                    f" SELECT $1, $2, s, 'shopper', c, $3, b, 'stored', t"
                    f" FROM unnest($4::int[], $5::text[], $6::text[], $7::timestamptz[]) AS u(s, c, b, t)"
                    f" RETURNING {_MESSAGE_COLUMNS}",
                    ref.shop_id,
                    ref.conversation_id,
                    SHOPPER_NAME,
                    list(range(first_seq, last + 1)),
                    [m.client_id for m in fresh],
                    [m.body for m in fresh],
                    [m.received_at for m in fresh],
                )
        new = [_stored(r) for r in rows]
        for message in new:
            await self.emitter.emit("message", wire(message), ref.conversation_id)
        pending = [r["seq"] for r in existing.values() if r["status"] != "delivered"]
        return StoredBatch(new=new, pending=pending, reopened=reopened and bool(fresh))

    @activity.defn(name="post_to_slack")
    async def post_to_slack(self, req: PostToSlack) -> PostResult:
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        async with self.pool.acquire() as conn:
            shop = await conn.fetchrow("SELECT name, slack_channel_id FROM shops WHERE id = $1", ref.shop_id)
            rows = await conn.fetch(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq = ANY($2)"
                " AND direction = 'shopper' AND status <> 'delivered' ORDER BY seq",
                ref.conversation_id,
                req.seqs,
            )
        thread = req.thread
        remaining = [r["seq"] for r in rows]
        delivered: list[int] = []
        try:
            if not shop["slack_channel_id"]:
                raise _Permanent("no_channel_configured")
            if thread is None:
                thread = await self._ensure_thread(ref, shop["slack_channel_id"])
            for row in rows:
                response = await self.slack.chat_postMessage(
                    channel=thread.channel, thread_ts=thread.thread_ts, text=row["body"], unfurl_links=False
                )
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE messages SET status = 'delivered', slack_channel = $3, slack_ts = $4"
                        " WHERE conversation_id = $1 AND seq = $2",
                        ref.conversation_id,
                        row["seq"],
                        thread.channel,
                        response["ts"],
                    )
                if not delivered:
                    # Slack accepts posts again: the shop's integration is healthy.
                    await self._set_slack_health(ref.shop_id, None)
                remaining.remove(row["seq"])
                delivered.append(row["seq"])
                await self._emit_status(ref, row, "delivered")
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if exc.response.status_code == 429:
                retry_after = int(exc.response.headers.get("Retry-After", "1"))
                log.warning("slack rate limited; retrying after %ss", retry_after)
                raise ApplicationError(
                    "Slack rate limit",
                    type="SlackRateLimited",
                    next_retry_delay=timedelta(seconds=retry_after),
                ) from None
            if error not in SLACK_PERMANENT_ERRORS:
                raise
            return await self._undeliverable(ref, thread, rows, remaining, delivered, error)
        except _Permanent as exc:
            return await self._undeliverable(ref, thread, rows, remaining, delivered, str(exc))
        return PostResult(thread=thread, delivered=delivered, undelivered=[])

    async def _undeliverable(
        self,
        ref: ConversationRef,
        thread: SlackThread | None,
        rows: list[Any],
        remaining: list[int],
        delivered: list[int],
        error: str,
    ) -> PostResult:
        log.error("slack rejected the shop's messages: %s; they stay stored until it is fixed", error)
        await self._set_slack_health(ref.shop_id, error)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE messages SET status = 'undelivered' WHERE conversation_id = $1 AND seq = ANY($2)",
                ref.conversation_id,
                remaining,
            )
        for row in rows:
            if row["seq"] in remaining:
                await self._emit_status(ref, row, "undelivered")
        return PostResult(thread=thread, delivered=delivered, undelivered=remaining, error=error)

    async def _emit_status(self, ref: ConversationRef, row: Any, status: str) -> None:
        await self.emitter.emit(
            "status",
            {
                "conversation_id": str(ref.conversation_id),
                "seq": row["seq"],
                "client_id": row["client_id"],
                "status": status,
            },
            ref.conversation_id,
        )

    async def _set_slack_health(self, shop_id: int, error: str | None) -> None:
        async with self.pool.acquire() as conn:
            if error is None:
                await conn.execute(
                    "UPDATE shops SET slack_error = NULL, slack_error_at = NULL"
                    " WHERE id = $1 AND slack_error IS NOT NULL",
                    shop_id,
                )
            else:
                await conn.execute(
                    "UPDATE shops SET slack_error = $2, slack_error_at = now() WHERE id = $1", shop_id, error
                )

    async def _ensure_thread(self, ref: ConversationRef, channel: str) -> SlackThread:
        """The conversation's thread: found again after a retry, else started with a root post."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT team_id, channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1",
                ref.conversation_id,
            )
            shopper = await conn.fetchrow("SELECT name, email FROM shoppers WHERE id = $1", ref.shopper_id)
        if row is not None:
            return SlackThread(team_id=row["team_id"], channel=row["channel_id"], thread_ts=row["thread_ts"])
        who = (shopper and (shopper["name"] or shopper["email"])) or "a shopper"
        text = f"New conversation from {who} on {ref.shop}"
        response = await self.slack.chat_postMessage(
            channel=channel,
            text=text,
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f":speech_balloon: *{text}*"}},
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": "Reply in this thread to answer the shopper."}],
                },
            ],
        )
        thread = SlackThread(team_id=await self._team(), channel=response["channel"], thread_ts=response["ts"])
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO slack_threads (team_id, channel_id, thread_ts, shop_id, conversation_id)"
                " VALUES ($1, $2, $3, $4, $5)",
                thread.team_id,
                thread.channel,
                thread.thread_ts,
                ref.shop_id,
                ref.conversation_id,
            )
        return thread

    async def _team(self) -> str:
        if self._team_id is None:
            response = await self.slack.auth_test()
            self._team_id = str(response["team_id"])
        return self._team_id

    @activity.defn(name="store_agent_messages")
    async def store_agent_messages(self, req: StoreAgentMessages) -> StoredBatch:
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        new: list[StoredMessage] = []
        for m in req.messages:
            author = await self._author(m)
            async with self.pool.acquire() as conn, conn.transaction():
                conv = await conn.fetchrow(
                    "SELECT shop_id FROM conversations WHERE id = $1 FOR UPDATE", ref.conversation_id
                )
                if conv is None:
                    raise ApplicationError("conversation does not exist", non_retryable=True)
                self._check_shop(ref, conv["shop_id"])
                # Slack retries and repeated events carry the same (channel, ts): store it once.
                dup = await conn.fetchval(
                    "SELECT 1 FROM messages WHERE slack_channel = $1 AND slack_ts = $2", m.channel, m.ts
                )
                if dup:
                    continue
                seq = await conn.fetchval(
                    "UPDATE conversations SET last_seq = last_seq + 1, updated_at = now() WHERE id = $1"
                    " RETURNING last_seq",
                    ref.conversation_id,
                )
                row = await conn.fetchrow(
                    "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_id, author_name,"
                    " author_avatar, body, status, slack_channel, slack_ts)"
                    " VALUES ($1, $2, $3, 'agent', $4, $5, $6, $7, 'stored', $8, $9)"
                    f" RETURNING {_MESSAGE_COLUMNS}",
                    ref.shop_id,
                    ref.conversation_id,
                    seq,
                    m.user_id,
                    author.name,
                    author.avatar_url,
                    m.text,
                    m.channel,
                    m.ts,
                )
            new.append(_stored(row))
        for message in new:
            await self.emitter.emit("message", wire(message), ref.conversation_id)
        return StoredBatch(new=new)

    async def _author(self, m: AgentMessage) -> Author:
        cached = self._authors.get(m.user_id)
        if cached is not None:
            return cached
        try:
            response = await self.slack.users_info(user=m.user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", m.user_id, exc.response.get("error"))
            return Author(name="Support")
        user = response["user"]
        profile = user.get("profile", {})
        name = profile.get("display_name") or profile.get("real_name") or user.get("name") or "Support"
        author = Author(name=name, avatar_url=profile.get("image_72"))
        self._authors[m.user_id] = author
        return author

    @activity.defn(name="set_conversation_status")
    async def set_conversation_status(self, req: SetStatus) -> None:
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE conversations SET status = $2, updated_at = now(),"
                " closed_at = CASE WHEN $2 = 'closed' THEN now() ELSE NULL END"
                " WHERE id = $1 AND shop_id = $3",
                req.ref.conversation_id,
                req.status,
                req.ref.shop_id,
            )

    @staticmethod
    def _check_shop(ref: ConversationRef, shop_id: int) -> None:
        if shop_id != ref.shop_id:
            # Ids come from tokens we signed, so this means a bug or tampering: never cross shops.
            raise ApplicationError("conversation belongs to another shop", non_retryable=True)


class _Permanent(Exception):
    pass
