"""The transcript in PostgreSQL: the one place that reads and writes conversation messages.

Used by the web process (the shopper's fast path), the Slack listeners and the activities, so
every writer follows the same rules: one seq per message per conversation, a retried client id or
a repeated Slack (channel, ts) stored once, every row checked against its shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from zora import files as zfiles
from zora.models import Author, ConversationRef, FileInfo, MessageStatus, StoredMessage

SHOPPER_NAME = "Shopper"
HISTORY_LIMIT = 500

MESSAGE_COLUMNS = (
    "conversation_id, seq, client_id, direction, author_name, author_avatar, body, created_at, status,"
    " edited_at, deleted_at"
)


def stored_message(row: Any) -> StoredMessage:
    return StoredMessage(
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        client_id=row["client_id"],
        direction=row["direction"],
        author=Author(name=row["author_name"], avatar_url=row["author_avatar"]),
        body=row["body"],
        created_at=row["created_at"],
        status=row["status"],
        edited_at=row["edited_at"],
        deleted=row["deleted_at"] is not None,
    )


def wire(message: StoredMessage) -> dict[str, Any]:
    """A message as the widget receives it (docs/widget-protocol.md)."""
    return message.model_dump(mode="json")


@dataclass(frozen=True)
class StoredShopperMessage:
    message: StoredMessage
    # A retry of a client id that was stored before: nothing new happened.
    duplicate: bool
    # The conversation row was created by this message (its first).
    conversation_created: bool
    # A resolved or closed conversation was opened again by this message.
    reopened: bool


_STORE_SHOPPER = "SELECT * FROM zora_store_shopper_message($1, $2, $3, $4, $5, $6, $7)"


async def store_shopper_message(
    pool: Any, ref: ConversationRef, client_id: str, body: str, at: datetime, file_ids: list[UUID] | None = None
) -> StoredShopperMessage:
    """Store the shopper's message; `file_ids` are their uploads it sends (zfiles.UnknownFiles when
    one is not a waiting upload of this conversation: then nothing is stored)."""
    args = (ref.shop_id, ref.conversation_id, ref.shopper_id, client_id, body, SHOPPER_NAME, at)
    attached: list[FileInfo] = []
    async with pool.acquire() as conn:
        if not file_ids:
            row = await conn.fetchrow(_STORE_SHOPPER, *args)  # the common case: one round trip
        else:
            async with conn.transaction():
                row = await conn.fetchrow(_STORE_SHOPPER, *args)
                if row["o_duplicate"]:
                    attached = (await zfiles.files_of(conn, ref.conversation_id, [row["o_seq"]])).get(row["o_seq"], [])
                else:
                    attached = await zfiles.attach_uploads(conn, ref, row["o_seq"], file_ids)
    message = StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row["o_seq"],
        client_id=client_id,
        direction="shopper",
        author=Author(name=SHOPPER_NAME),
        body=body,
        created_at=row["o_created_at"],
        status=row["o_status"],
        files=attached,
    )
    return StoredShopperMessage(
        message=message,
        duplicate=row["o_duplicate"],
        # An upload before the first message creates the conversation row; its first message is seq 1.
        conversation_created=row["o_conversation_created"] or (not row["o_duplicate"] and row["o_seq"] == 1),
        reopened=row["o_reopened"],
    )


async def set_storefront_context(pool: Any, ref: ConversationRef, page: str | None, locale: str | None) -> None:
    """Where the conversation started (the card shows it); set once, before its thread is posted."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE conversations SET storefront_page = coalesce(storefront_page, $3), locale = coalesce(locale, $4)"
            " WHERE id = $1 AND shop_id = $2",
            ref.conversation_id,
            ref.shop_id,
            page,
            locale,
        )


async def store_agent_message(
    pool: Any,
    ref: ConversationRef,
    *,
    author_id: str,
    author: Author,
    body: str,
    channel: str,
    ts: str,
    at: datetime,
    files: list[SharedFile] | None = None,
) -> StoredMessage | None:
    """The stored message, or None when this Slack message was stored before (a retry). Its
    `files` (shared in Slack) are stored with it: pending until copied, or failed when refused."""
    args = (ref.shop_id, ref.conversation_id, author_id, author.name, author.avatar_url, body, channel, ts, at)
    infos: list[FileInfo] = []
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM zora_store_agent_message($1, $2, $3, $4, $5, $6, $7, $8, $9)", *args)
        if not row["o_duplicate"]:
            for shared in files or []:
                infos.append(await _store_shared_file(conn, ref, row["o_seq"], shared))
    if row["o_duplicate"]:
        return None
    return StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row["o_seq"],
        client_id=None,
        direction="agent",
        author=author,
        body=body,
        created_at=row["o_created_at"],
        status="stored",
        files=infos,
    )


@dataclass(frozen=True)
class SharedFile:
    """A file an agent shared in Slack, as the event describes it."""

    slack_file_id: str | None
    name: str
    content_type: str
    size: int
    url: str | None
    # Why it will not be copied (too large, another type); None to copy it.
    refused: str | None = None


async def _store_shared_file(conn: Any, ref: ConversationRef, seq: int, shared: SharedFile) -> FileInfo:
    row = await conn.fetchrow(
        "INSERT INTO files (id, shop_id, conversation_id, message_seq, origin, name, content_type, size, state, error,"
        " slack_file_id, slack_url) VALUES ($1, $2, $3, $4, 'agent', $5, $6, $7, $8, $9, $10, $11)"
        f" RETURNING {zfiles.FILE_COLUMNS}",
        uuid4(),
        ref.shop_id,
        ref.conversation_id,
        seq,
        zfiles.clean_name(shared.name),
        shared.content_type,
        shared.size,
        "failed" if shared.refused else "pending",
        shared.refused,
        shared.slack_file_id,
        shared.url,
    )
    return zfiles.file_info(row)


async def with_files(conn: Any, conversation_id: UUID, messages: list[StoredMessage]) -> list[StoredMessage]:
    found = await zfiles.files_of(conn, conversation_id, [m.seq for m in messages])
    return [m.model_copy(update={"files": found[m.seq]}) if m.seq in found else m for m in messages]


async def agent_message_at(pool: Any, ref: ConversationRef, channel: str, ts: str) -> StoredMessage | None:
    """The agent reply stored for this Slack message (channel, ts), with its files; None when there is
    none or it was deleted."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE shop_id = $1 AND conversation_id = $2"
            " AND slack_channel = $3 AND slack_ts = $4 AND direction = 'agent' AND deleted_at IS NULL",
            ref.shop_id,
            ref.conversation_id,
            channel,
            ts,
        )
        if row is None:
            return None
        return (await with_files(conn, ref.conversation_id, [stored_message(row)]))[0]


async def history(
    pool: Any, shop_id: int, conversation_id: UUID, since_seq: int
) -> tuple[str | None, list[StoredMessage]]:
    """The conversation's status and its messages after `since_seq`, oldest first."""
    async with pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM conversations WHERE id = $1 AND shop_id = $2", conversation_id, shop_id
        )
        rows = await conn.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2 AND seq > $3"
            " ORDER BY seq LIMIT $4",
            conversation_id,
            shop_id,
            since_seq,
            HISTORY_LIMIT,
        )
        messages = await with_files(conn, conversation_id, [stored_message(r) for r in rows])
    return status, messages


async def pending_shopper_messages(
    pool: Any, conversation_id: UUID, statuses: tuple[MessageStatus, ...] = ("stored", "undelivered")
) -> list[StoredMessage]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND direction = 'shopper'"
            " AND status = ANY($2) ORDER BY seq",
            conversation_id,
            list(statuses),
        )
        return await with_files(conn, conversation_id, [stored_message(r) for r in rows])


async def set_status(
    pool: Any,
    conversation_id: UUID,
    seqs: list[int],
    status: MessageStatus,
    *,
    slack_channel: str | None = None,
    slack_ts: str | None = None,
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET status = $3, claimed_until = NULL, slack_channel = COALESCE($4, slack_channel),"
            " slack_ts = COALESCE($5, slack_ts) WHERE conversation_id = $1 AND seq = ANY($2)",
            conversation_id,
            seqs,
            status,
            slack_channel,
            slack_ts,
        )


CLAIM_SECONDS = 60


@dataclass(frozen=True)
class Claim:
    # The seqs taken: nobody else holds them, and no message before them waits for another poster.
    seqs: set[int]
    # Of those, the ones an earlier poster took and may have posted (it died or was cut off, or Slack's
    # answer left it unclear): look in the thread before posting them again.
    unknown: set[int]


# The rows are locked first (in seq order, so two claimers take turns instead of deadlocking) and read
# as they are now: a message is taken only when nothing older in the conversation is held by another
# poster or waits outside this batch, so a conversation's messages reach Slack in seq order even when
# the fast path, the workflow and a restarted process all try at once.
_CLAIM = (
    "WITH cur AS ("
    " SELECT seq, claimed_until, slack_attempt_at FROM messages"
    " WHERE conversation_id = $1 AND direction = 'shopper' AND status <> 'delivered' ORDER BY seq FOR UPDATE),"
    " stop AS (SELECT min(seq) AS seq FROM cur WHERE claimed_until >= now() OR NOT seq = ANY($2))"
    " UPDATE messages m SET claimed_until = now() + make_interval(secs => $3), slack_attempt_at = now()"
    " FROM cur WHERE m.conversation_id = $1 AND m.seq = cur.seq AND m.seq = ANY($2)"
    " AND (cur.claimed_until IS NULL OR cur.claimed_until < now())"
    " AND m.seq < coalesce((SELECT seq FROM stop), 2147483647)"
    " RETURNING m.seq, cur.slack_attempt_at IS NOT NULL AS unknown"
)


async def claim(pool: Any, conversation_id: UUID, seqs: list[int]) -> Claim:
    """Take the right to post these shopper messages, and mark them as possibly posted from now on
    (the mark costs nothing here and is what tells the next poster to look before posting again)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_CLAIM, conversation_id, seqs, CLAIM_SECONDS)
    return Claim(seqs={r["seq"] for r in rows}, unknown={r["seq"] for r in rows if r["unknown"]})


async def extend_claim(pool: Any, conversation_id: UUID, seqs: list[int]) -> None:
    """Keep holding messages whose posting takes long (files uploading, a long batch)."""
    if not seqs:
        return
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET claimed_until = now() + make_interval(secs => $3)"
            " WHERE conversation_id = $1 AND seq = ANY($2) AND status <> 'delivered'",
            conversation_id,
            seqs,
            CLAIM_SECONDS,
        )


async def release(
    pool: Any, conversation_id: UUID, seqs: list[int], *, unknown: set[int] | frozenset[int] = frozenset()
) -> None:
    """Give messages back for the next poster. Those in `unknown` may be in Slack already: they keep
    their attempt mark, so the next poster looks for them in the thread first."""
    if not seqs:
        return
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET claimed_until = NULL,"
            " slack_attempt_at = CASE WHEN seq = ANY($3) THEN slack_attempt_at END"
            " WHERE conversation_id = $1 AND seq = ANY($2)",
            conversation_id,
            seqs,
            sorted(unknown),
        )


async def edit_agent_message(
    pool: Any, shop_id: int, channel: str, ts: str, body: str, at: datetime
) -> StoredMessage | None:
    """Apply an agent's edit in Slack; None when that Slack message is not a reply Zora relayed."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"UPDATE messages SET body = $4, edited_at = $5 WHERE shop_id = $1 AND slack_channel = $2"
            f" AND slack_ts = $3 AND direction = 'agent' AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
            shop_id,
            channel,
            ts,
            body,
            at,
        )
    return None if row is None else stored_message(row)


async def delete_agent_message(pool: Any, shop_id: int, channel: str, ts: str, at: datetime) -> StoredMessage | None:
    """Remove a reply the agent deleted in Slack: its text and files are erased, its seq stays (no gaps)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE messages SET body = '', deleted_at = $4 WHERE shop_id = $1 AND slack_channel = $2"
            f" AND slack_ts = $3 AND direction = 'agent' AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
            shop_id,
            channel,
            ts,
            at,
        )
        if row is not None:
            await conn.execute(
                "DELETE FROM files WHERE conversation_id = $1 AND message_seq = $2", row["conversation_id"], row["seq"]
            )
    return None if row is None else stored_message(row)


async def drop_agent_files(
    pool: Any, shop_id: int, channel: str, ts: str, keep: set[str]
) -> tuple[UUID, int, list[FileInfo]] | None:
    """An agent removed files from a reply in Slack: erase the copies not in `keep` (Slack file ids).
    Returns (conversation, seq, the files left) when something was erased."""
    async with pool.acquire() as conn, conn.transaction():
        message = await conn.fetchrow(
            "SELECT conversation_id, seq FROM messages WHERE shop_id = $1 AND slack_channel = $2 AND slack_ts = $3"
            " AND direction = 'agent'",
            shop_id,
            channel,
            ts,
        )
        if message is None:
            return None
        erased = await conn.execute(
            "DELETE FROM files WHERE conversation_id = $1 AND message_seq = $2 AND origin = 'agent'"
            " AND (slack_file_id IS NULL OR NOT slack_file_id = ANY($3))",
            message["conversation_id"],
            message["seq"],
            list(keep),
        )
        if erased == "DELETE 0":
            return None
        left = await zfiles.files_of(conn, message["conversation_id"], [message["seq"]])
    return message["conversation_id"], message["seq"], left.get(message["seq"], [])


async def store_system_message(pool: Any, ref: ConversationRef, *, author: Author, body: str) -> StoredMessage:
    """A message from Zora itself to the shopper (the closing note): shown like an agent's, never in Slack."""
    async with pool.acquire() as conn, conn.transaction():
        seq = await conn.fetchval(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 AND shop_id = $2 RETURNING last_seq",
            ref.conversation_id,
            ref.shop_id,
        )
        row = await conn.fetchrow(
            "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_name, author_avatar, body, status)"
            f" VALUES ($1, $2, $3, 'agent', $4, $5, $6, 'stored') RETURNING {MESSAGE_COLUMNS}",
            ref.shop_id,
            ref.conversation_id,
            seq,
            author.name,
            author.avatar_url,
            body,
        )
    return stored_message(row)
