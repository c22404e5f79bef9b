"""Finding in a Slack thread the shopper posts an earlier poster got into Slack without writing them
down (cut off between Slack's answer and the database), by the metadata on each post."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from zora.models import SlackThread, StoredMessage
from zora.slack_api import SlackGateway

log = logging.getLogger(__name__)

# Slack message metadata on Zora's shopper posts: what a thread is searched for when a post's answer was lost.
MESSAGE_EVENT = "zora_message"
# Looking for lost posts: conversations.replies pages, bounded.
RECONCILE_PAGE_SIZE = 200
RECONCILE_PAGES = 10


def message_metadata(message: StoredMessage) -> dict[str, Any]:
    return {
        "event_type": MESSAGE_EVENT,
        "event_payload": {"conversation_id": str(message.conversation_id), "seq": message.seq},
    }


async def find_in_thread(
    slack: SlackGateway, thread: SlackThread, cid: UUID, since: str | None
) -> tuple[dict[int, str], set[str]]:
    """Zora's shopper posts of this conversation in the thread from `since` on (seq -> ts, by their
    metadata), and the ids of the files in it. Bounded: a lost post sits right after `since`."""
    posted: dict[int, str] = {}
    files: set[str] = set()
    cursor: str | None = None
    for _ in range(RECONCILE_PAGES):
        response = await slack.conversations_replies(
            channel=thread.channel,
            ts=thread.thread_ts,
            oldest=since,
            inclusive=True if since else None,
            include_all_metadata=True,
            limit=RECONCILE_PAGE_SIZE,
            cursor=cursor,
        )
        for found in response.get("messages") or []:
            seq = _zora_seq(found.get("metadata"), cid)
            if seq is not None:
                posted.setdefault(seq, str(found["ts"]))
            files.update(str(f["id"]) for f in found.get("files") or [] if isinstance(f, dict) and f.get("id"))
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return posted, files
    log.warning(
        "the thread has more than %d messages since the last known post; looked no further",
        RECONCILE_PAGES * RECONCILE_PAGE_SIZE,
    )
    return posted, files


def _zora_seq(metadata: Any, conversation_id: UUID) -> int | None:
    """The seq a Slack message's metadata names, when it is this conversation's shopper post."""
    if not isinstance(metadata, dict) or metadata.get("event_type") != MESSAGE_EVENT:
        return None
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict) or payload.get("conversation_id") != str(conversation_id):
        return None
    seq = payload.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
