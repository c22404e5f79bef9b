"""Files in conversations: what may be sent, checked by content, and Zora's own copy in PostgreSQL.

Shoppers upload images and PDFs (`POST /widget/files`) and name them in their next message; agents
share files in the Slack thread and Zora copies them (activities/files.py). Either way only
the types below are kept, and only when the bytes really are of that type: a file served from
Zora's domain is never HTML or script, whatever its sender claimed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from uuid import UUID

from zora.db import Conn, Pool
from zora.models import ConversationRef, FileInfo
from zora.store import files as sfiles
from zora.store.files import FILE_COLUMNS, StoredFile, file_info, file_url, files_of

__all__ = ["FILE_COLUMNS", "StoredFile", "file_info", "file_url", "files_of"]

# Content type -> the ways a real file of that type starts.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # then 4 bytes of length and "WEBP", checked in sniff()
    "application/pdf": (b"%PDF-",),
}
ALLOWED_TYPES = tuple(_SIGNATURES)
MAX_FILES_PER_MESSAGE = 5
# Uploaded but not sent yet, per conversation: a page cannot fill the database with orphans.
MAX_WAITING_UPLOADS = 10
MAX_NAME = 255
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class FileRejected(Exception):
    """A file Zora will not keep; `code` is the widget protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sniff(data: bytes) -> str | None:
    """The allowed type these bytes really are, or None."""
    for content_type, starts in _SIGNATURES.items():
        if any(data.startswith(start) for start in starts):
            if content_type == "image/webp" and data[8:12] != b"WEBP":
                continue
            return content_type
    return None


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def check_declared(content_type: str, size: int, max_bytes: int) -> str:
    """Type and size as declared (a header, Slack's metadata): the normalised type, or FileRejected."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if declared not in _SIGNATURES:
        raise FileRejected(
            "unsupported_type",
            f"{declared or 'this type'} is not accepted: send a PNG, JPEG, GIF or WebP image or a PDF",
        )
    if size > max_bytes:
        raise FileRejected("file_too_large", f"the file is {human_size(size)}; the limit is {human_size(max_bytes)}")
    return declared


def check_content(declared: str, data: bytes) -> None:
    actual = sniff(data)
    if actual != declared:
        raise FileRejected(
            "unsupported_type",
            f"the file's content is not {declared}" + (f" (it looks like {actual})" if actual else ""),
        )


def clean_name(name: str) -> str:
    """A file name safe to show and to put in a header: no control characters or path parts."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip().strip(".") or "file"
    return cleaned[-MAX_NAME:]


async def read_limited(stream: Any, limit: int) -> bytes:
    """All of an aiohttp stream (a request's or a response's body), refused as soon as it passes
    `limit`: a missing or false Content-Length changes nothing."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FileRejected("file_too_large", f"the file is over the limit of {human_size(limit)}")
        chunks.append(chunk)
    return b"".join(chunks)


def refused_note(lines: list[str]) -> str:
    """What the agents read in the thread about files the shopper will not get."""
    return "Not sent to the shopper (they see the file's name only):\n" + "\n".join(lines)


async def store_upload(pool: Pool, ref: ConversationRef, name: str, content_type: str, data: bytes) -> FileInfo:
    """Keep a shopper's upload until a message sends it. The conversation row may not exist yet
    (an upload before the first message), so the shopper and conversation are created as a
    message would create them."""
    file_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await sfiles.ensure_conversation(conn, ref)
        owner = await sfiles.lock_conversation_owner(conn, ref.conversation_id)
        if owner != ref.shop_id:
            raise FileRejected("unauthorized", "this conversation belongs to another shop")
        waiting = await sfiles.waiting_uploads(conn, ref)
        if waiting >= MAX_WAITING_UPLOADS:
            raise FileRejected(
                "too_many_files",
                f"{waiting} uploaded files are still waiting to be sent: send them with a message first"
                " (uploads no message sends are dropped after a day)",
            )
        return await sfiles.insert_upload(conn, file_id, ref, clean_name(name), content_type, data)


class UnknownFiles(Exception):
    """A message named files that are not this conversation's waiting uploads."""


async def attach_uploads(conn: Conn, ref: ConversationRef, seq: int, file_ids: list[UUID]) -> list[FileInfo]:
    """Bind waiting uploads to the message `seq` (inside the message's transaction)."""
    rows = await sfiles.attach_uploads(conn, ref, seq, file_ids)
    if len(rows) != len(set(file_ids)):
        raise UnknownFiles
    by_id = {r["id"]: r for r in rows}
    return [file_info(by_id[i]) for i in dict.fromkeys(file_ids)]


async def read(pool: Pool, file_id: UUID) -> StoredFile | None:
    return await sfiles.read_ready(pool, file_id)
