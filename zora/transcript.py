"""The transcript in PostgreSQL: every read and write of conversation messages goes through here (its
statements are in zora/store/messages.py).

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
from zora.db import Conn, Executor, Pool
from zora.models import AgentPost, Author, ConversationRef, FileInfo, MessageStatus, StoredMessage
from zora.store import conversations as sconversations
from zora.store import files as sfiles
from zora.store import messages as smessages
from zora.store import slack_posts as sslack_posts
from zora.store.messages import MESSAGE_COLUMNS, stored_message

SHOPPER_NAME = "Shopper"
HISTORY_LIMIT = 500

__all__ = ["MESSAGE_COLUMNS", "stored_message"]


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


async def store_shopper_message(
    pool: Pool, ref: ConversationRef, client_id: str, body: str, at: datetime, file_ids: list[UUID] | None = None
) -> StoredShopperMessage:
    """Store the shopper's message; `file_ids` are their uploads it sends (zfiles.UnknownFiles when
    one is not a waiting upload of this conversation: then nothing is stored)."""
    attached: list[FileInfo] = []
    async with pool.acquire() as conn:
        if not file_ids:
            # the common case: one round trip
            row = await smessages.store_shopper(conn, ref, client_id, body, SHOPPER_NAME, at)
        else:
            async with conn.transaction():
                row = await smessages.store_shopper(conn, ref, client_id, body, SHOPPER_NAME, at)
                if row.duplicate:
                    attached = (await zfiles.files_of(conn, ref.conversation_id, [row.seq])).get(row.seq, [])
                else:
                    attached = await zfiles.attach_uploads(conn, ref, row.seq, file_ids)
    message = StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row.seq,
        client_id=client_id,
        direction="shopper",
        author=Author(name=SHOPPER_NAME),
        body=body,
        created_at=row.created_at,
        status=row.status,
        files=attached,
    )
    return StoredShopperMessage(
        message=message,
        duplicate=row.duplicate,
        # An upload before the first message creates the conversation row; its first message is seq 1.
        conversation_created=row.conversation_created or (not row.duplicate and row.seq == 1),
        reopened=row.reopened,
    )


async def set_storefront_context(pool: Pool, ref: ConversationRef, page: str | None, locale: str | None) -> None:
    """Where the conversation started (the card shows it); set once, before its thread is posted."""
    await sconversations.set_storefront_context(pool, ref, page, locale)


async def store_agent_message(
    pool: Pool, ref: ConversationRef, post: AgentPost, files: list[SharedFile] | None = None
) -> StoredMessage | None:
    """The stored message, or None when this Slack message was stored before (a retry). Its
    `files` (shared in Slack) are stored with it: pending until copied, or failed when refused."""
    infos: list[FileInfo] = []
    async with pool.acquire() as conn:
        if not files:
            # the common case: one statement, atomic on its own (no BEGIN and COMMIT round trips)
            row = await smessages.store_agent(conn, ref, post)
        else:
            async with conn.transaction():
                row = await smessages.store_agent(conn, ref, post)
                if not row.duplicate:
                    for shared in files:
                        infos.append(await _store_shared_file(conn, ref, row.seq, shared))
    if row.duplicate:
        return None
    return StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row.seq,
        client_id=None,
        direction="agent",
        author=post.author,
        body=post.body,
        created_at=row.created_at,
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


async def _store_shared_file(conn: Conn, ref: ConversationRef, seq: int, shared: SharedFile) -> FileInfo:
    return await sfiles.insert_agent_file(
        conn,
        uuid4(),
        ref,
        seq,
        name=zfiles.clean_name(shared.name),
        content_type=shared.content_type,
        size=shared.size,
        refused=shared.refused,
        slack_file_id=shared.slack_file_id,
        slack_url=shared.url,
    )


async def with_files(conn: Executor, conversation_id: UUID, messages: list[StoredMessage]) -> list[StoredMessage]:
    found = await zfiles.files_of(conn, conversation_id, [m.seq for m in messages])
    return [m.model_copy(update={"files": found[m.seq]}) if m.seq in found else m for m in messages]


async def agent_message_at(pool: Pool, ref: ConversationRef, channel: str, ts: str) -> StoredMessage | None:
    """The agent reply stored for this Slack message (channel, ts), with its files; None when there is
    none or it was deleted."""
    async with pool.acquire() as conn:
        message = await smessages.agent_message_at(conn, ref, channel, ts)
        if message is None:
            return None
        return (await with_files(conn, ref.conversation_id, [message]))[0]


async def history(
    pool: Pool, shop_id: int, conversation_id: UUID, since_seq: int
) -> tuple[str | None, list[StoredMessage]]:
    """The conversation's status and its messages after `since_seq`, oldest first."""
    async with pool.acquire() as conn:
        status = await sconversations.status(conn, shop_id, conversation_id)
        found = await smessages.after(conn, shop_id, conversation_id, since_seq, HISTORY_LIMIT)
        messages = await with_files(conn, conversation_id, found)
    return status, messages


async def pending_shopper_messages(
    pool: Pool, ref: ConversationRef, statuses: tuple[MessageStatus, ...] = ("stored", "undelivered")
) -> list[StoredMessage]:
    async with pool.acquire() as conn:
        found = await smessages.pending_shopper(conn, ref.shop_id, ref.conversation_id, list(statuses))
        return await with_files(conn, ref.conversation_id, found)


async def set_status(
    pool: Pool,
    conversation_id: UUID,
    seqs: list[int],
    status: MessageStatus,
    *,
    slack_channel: str | None = None,
    slack_ts: str | None = None,
) -> None:
    async with pool.acquire() as conn:
        await smessages.set_status(conn, conversation_id, seqs, status, slack_channel, slack_ts)


async def record_delivered(
    pool: Pool, conversation_id: UUID, seq: int, *, slack_channel: str, slack_ts: str | None, heal_shop_id: int | None
) -> None:
    """The message is in Slack; `heal_shop_id` also clears that shop's Slack error (messages.delivered_to_slack)."""
    async with pool.acquire() as conn:
        await smessages.delivered_to_slack(conn, conversation_id, seq, slack_channel, slack_ts, heal_shop_id)


CLAIM_SECONDS = 60


@dataclass(frozen=True)
class Claim:
    # The seqs taken: nobody else holds them, and no message before them waits for another poster.
    seqs: set[int]
    # Of those, the ones an earlier poster took and may have posted (it died or was cut off, or Slack's
    # answer left it unclear): look in the thread before posting them again.
    unknown: set[int]


async def claim(pool: Pool, conversation_id: UUID, seqs: list[int]) -> Claim:
    """Take the right to post these shopper messages, and mark them as possibly posted from now on
    (the mark costs nothing here and is what tells the next poster to look before posting again).
    The rules of the claim are in zora.store.messages (its one statement)."""
    async with pool.acquire() as conn:
        taken = await sslack_posts.claim(conn, conversation_id, seqs, CLAIM_SECONDS)
    return Claim(seqs={seq for seq, _ in taken}, unknown={seq for seq, tried in taken if tried})


async def extend_claim(pool: Pool, conversation_id: UUID, seqs: list[int]) -> None:
    """Keep holding messages whose posting takes long (files uploading, a long batch)."""
    if not seqs:
        return
    async with pool.acquire() as conn:
        await sslack_posts.extend_claim(conn, conversation_id, seqs, CLAIM_SECONDS)


async def release(
    pool: Pool, conversation_id: UUID, seqs: list[int], *, unknown: set[int] | frozenset[int] = frozenset()
) -> None:
    """Give messages back for the next poster. Those in `unknown` may be in Slack already: they keep
    their attempt mark, so the next poster looks for them in the thread first."""
    if not seqs:
        return
    async with pool.acquire() as conn:
        await sslack_posts.release(conn, conversation_id, seqs, sorted(unknown))


async def edit_agent_message(
    pool: Pool, shop_id: int, channel: str, ts: str, body: str, at: datetime
) -> StoredMessage | None:
    """Apply an agent's edit in Slack; None when that Slack message is not a reply Zora relayed."""
    async with pool.acquire() as conn:
        return await smessages.edit_agent(conn, shop_id, channel, ts, body, at)


async def delete_agent_message(pool: Pool, shop_id: int, channel: str, ts: str, at: datetime) -> StoredMessage | None:
    """Remove a reply the agent deleted in Slack: its text and files are erased, its seq stays (no gaps)."""
    async with pool.acquire() as conn, conn.transaction():
        message = await smessages.delete_agent(conn, shop_id, channel, ts, at)
        if message is not None:
            await sfiles.delete_of_message(conn, message.conversation_id, message.seq)
    return message


async def drop_agent_files(
    pool: Pool, shop_id: int, channel: str, ts: str, keep: set[str]
) -> tuple[UUID, int, list[FileInfo]] | None:
    """An agent removed files from a reply in Slack: erase the copies not in `keep` (Slack file ids).
    Returns (conversation, seq, the files left) when something was erased."""
    async with pool.acquire() as conn, conn.transaction():
        message = await smessages.agent_seq_at(conn, shop_id, channel, ts)
        if message is None:
            return None
        conversation_id, seq = message
        if not await sfiles.delete_agent_files_except(conn, conversation_id, seq, list(keep)):
            return None
        left = await zfiles.files_of(conn, conversation_id, [seq])
    return conversation_id, seq, left.get(seq, [])


async def store_system_message(pool: Pool, ref: ConversationRef, *, author: Author, body: str) -> StoredMessage:
    """A message from Zora itself to the shopper (the closing note): shown like an agent's, never in Slack."""
    async with pool.acquire() as conn, conn.transaction():
        seq = await sconversations.next_seq(conn, ref)
        return await smessages.store_system(conn, ref, seq, author, body)
