"""Files: shoppers' uploads and Zora's copies of files agents share in Slack."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from zora.db import Executor, Row
from zora.models import ConversationRef, FileInfo
from zora.store.conversations import refs

FILE_COLUMNS = "id, message_seq, name, content_type, size, state"


def file_url(file_id: UUID) -> str:
    return f"/widget/files/{file_id}"


def file_info(row: Row) -> FileInfo:
    return FileInfo(
        id=row["id"],
        name=row["name"],
        type=row["content_type"],
        size=row["size"],
        state=row["state"],
        url=file_url(row["id"]) if row["state"] == "ready" else None,
    )


async def ensure_conversation(conn: Executor, ref: ConversationRef) -> None:
    """The shopper and conversation rows, created as a first message would create them."""
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


async def lock_conversation_owner(conn: Executor, conversation_id: UUID) -> int | None:
    """The shop the conversation belongs to, its row locked until the transaction ends."""
    owner: int | None = await conn.fetchval(
        "SELECT shop_id FROM conversations WHERE id = $1 FOR UPDATE", conversation_id
    )
    return owner


async def waiting_uploads(conn: Executor, ref: ConversationRef) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM files WHERE conversation_id = $1 AND shop_id = $2 AND message_seq IS NULL",
        ref.conversation_id,
        ref.shop_id,
    )
    return count


async def insert_upload(
    conn: Executor, file_id: UUID, ref: ConversationRef, name: str, content_type: str, data: bytes
) -> FileInfo:
    row = await conn.fetchrow(
        "INSERT INTO files (id, shop_id, conversation_id, origin, name, content_type, size, data, state)"
        f" VALUES ($1, $2, $3, 'shopper', $4, $5, $6, $7, 'ready') RETURNING {FILE_COLUMNS}",
        file_id,
        ref.shop_id,
        ref.conversation_id,
        name,
        content_type,
        len(data),
        data,
    )
    assert row is not None  # an INSERT without a conflict clause returns its row
    return file_info(row)


async def insert_agent_file(
    conn: Executor,
    file_id: UUID,
    ref: ConversationRef,
    seq: int,
    *,
    name: str,
    content_type: str,
    size: int,
    refused: str | None,
    slack_file_id: str | None,
    slack_url: str | None,
) -> FileInfo:
    """A file an agent shared in Slack: pending until copied, or failed when refused."""
    row = await conn.fetchrow(
        "INSERT INTO files (id, shop_id, conversation_id, message_seq, origin, name, content_type, size, state, error,"
        " slack_file_id, slack_url) VALUES ($1, $2, $3, $4, 'agent', $5, $6, $7, $8, $9, $10, $11)"
        f" RETURNING {FILE_COLUMNS}",
        file_id,
        ref.shop_id,
        ref.conversation_id,
        seq,
        name,
        content_type,
        size,
        "failed" if refused else "pending",
        refused,
        slack_file_id,
        slack_url,
    )
    assert row is not None
    return file_info(row)


async def attach_uploads(conn: Executor, ref: ConversationRef, seq: int, file_ids: list[UUID]) -> list[Row]:
    """Bind waiting uploads of this conversation to the message `seq`; the rows bound."""
    return await conn.fetch(
        f"UPDATE files SET message_seq = $3 WHERE id = ANY($4) AND conversation_id = $1 AND shop_id = $2"
        f" AND origin = 'shopper' AND message_seq IS NULL RETURNING {FILE_COLUMNS}",
        ref.conversation_id,
        ref.shop_id,
        seq,
        file_ids,
    )


async def files_of(conn: Executor, conversation_id: UUID, seqs: list[int]) -> dict[int, list[FileInfo]]:
    """The files of these messages, in the order they were added."""
    if not seqs:
        return {}
    rows = await conn.fetch(
        f"SELECT {FILE_COLUMNS} FROM files WHERE conversation_id = $1 AND message_seq = ANY($2)"
        " ORDER BY created_at, id",
        conversation_id,
        seqs,
    )
    found: dict[int, list[FileInfo]] = {}
    for row in rows:
        found.setdefault(row["message_seq"], []).append(file_info(row))
    return found


@dataclass(frozen=True)
class StoredFile:
    name: str
    content_type: str
    data: bytes


async def read_ready(conn: Executor, file_id: UUID) -> StoredFile | None:
    row = await conn.fetchrow(
        "SELECT name, content_type, data FROM files WHERE id = $1 AND state = 'ready' AND data IS NOT NULL",
        file_id,
    )
    return None if row is None else StoredFile(row["name"], row["content_type"], bytes(row["data"]))


async def delete_of_message(conn: Executor, conversation_id: UUID, seq: int) -> None:
    await conn.execute("DELETE FROM files WHERE conversation_id = $1 AND message_seq = $2", conversation_id, seq)


async def delete_agent_files_except(conn: Executor, conversation_id: UUID, seq: int, keep: list[str]) -> bool:
    """Erase the agent's files of message `seq` whose Slack id is not in `keep`; True when any were."""
    erased = await conn.execute(
        "DELETE FROM files WHERE conversation_id = $1 AND message_seq = $2 AND origin = 'agent'"
        " AND (slack_file_id IS NULL OR NOT slack_file_id = ANY($3))",
        conversation_id,
        seq,
        keep,
    )
    return erased != "DELETE 0"


@dataclass(frozen=True)
class Upload:
    """A shopper's file still to go up into the Slack thread."""

    id: UUID
    name: str
    content_type: str
    data: bytes


async def not_in_slack(conn: Executor, conversation_id: UUID, seq: int) -> list[Upload]:
    """The files of message `seq` Slack does not have yet, in the order they were added."""
    rows = await conn.fetch(
        "SELECT id, name, content_type, data FROM files WHERE conversation_id = $1 AND message_seq = $2"
        " AND slack_file_id IS NULL AND data IS NOT NULL ORDER BY created_at, id",
        conversation_id,
        seq,
    )
    return [Upload(id=r["id"], name=r["name"], content_type=r["content_type"], data=bytes(r["data"])) for r in rows]


async def set_slack_upload_id(conn: Executor, file_id: UUID, slack_upload_id: str) -> None:
    """The id Slack gave the upload, written before it is shared (so a cut-off upload can be found)."""
    await conn.execute("UPDATE files SET slack_upload_id = $2 WHERE id = $1", file_id, slack_upload_id)


async def set_slack_file_id(conn: Executor, file_id: UUID, slack_file_id: str) -> None:
    await conn.execute("UPDATE files SET slack_file_id = $2 WHERE id = $1", file_id, slack_file_id)


async def found_in_slack(conn: Executor, conversation_id: UUID, seq: int, upload_ids: list[str]) -> None:
    """Uploads of message `seq` found shared in the thread: Slack has them."""
    await conn.execute(
        "UPDATE files SET slack_file_id = slack_upload_id WHERE conversation_id = $1"
        " AND message_seq = $2 AND slack_file_id IS NULL AND slack_upload_id = ANY($3)",
        conversation_id,
        seq,
        upload_ids,
    )


async def agent_files_stuck(conn: Executor, older_than_seconds: float, limit: int) -> list[ConversationRef]:
    """Conversations, across all shops (the sweep), with agents' files still pending copy this long."""
    rows = await conn.fetch(
        "SELECT DISTINCT f.conversation_id, f.shop_id, s.domain, c.shopper_id"
        " FROM files f JOIN conversations c ON c.id = f.conversation_id JOIN shops s ON s.id = f.shop_id"
        " WHERE f.origin = 'agent' AND f.state = 'pending' AND f.created_at < now() - make_interval(secs => $1)"
        " LIMIT $2",
        older_than_seconds,
        limit,
    )
    return refs(rows)


async def drop_unsent_uploads(conn: Executor, hours: int) -> int:
    """Shoppers' uploads no message sent within `hours`, in every shop (the sweep); how many."""
    dropped = await conn.execute(
        "DELETE FROM files WHERE origin = 'shopper' AND message_seq IS NULL"
        " AND created_at < now() - make_interval(hours => $1)",
        hours,
    )
    return int(dropped.split()[-1])


@dataclass(frozen=True)
class PendingCopy:
    """A file an agent shared in Slack that Zora has not copied yet."""

    id: UUID
    message_seq: int
    name: str
    content_type: str
    slack_url: str | None


async def pending_copies(conn: Executor, ref: ConversationRef) -> list[PendingCopy]:
    rows = await conn.fetch(
        "SELECT id, message_seq, name, content_type, slack_url FROM files WHERE conversation_id = $1 AND shop_id = $2"
        " AND origin = 'agent' AND state = 'pending' ORDER BY message_seq, created_at",
        ref.conversation_id,
        ref.shop_id,
    )
    return [
        PendingCopy(
            id=r["id"],
            message_seq=r["message_seq"],
            name=r["name"],
            content_type=r["content_type"],
            slack_url=r["slack_url"],
        )
        for r in rows
    ]


async def copied(conn: Executor, file_id: UUID, data: bytes) -> None:
    await conn.execute(
        "UPDATE files SET data = $2, size = $3, state = 'ready', error = NULL WHERE id = $1 AND state = 'pending'",
        file_id,
        data,
        len(data),
    )


async def copy_failed(conn: Executor, file_id: UUID, error: str) -> None:
    await conn.execute(
        "UPDATE files SET state = 'failed', error = $2 WHERE id = $1 AND state = 'pending'", file_id, error
    )
