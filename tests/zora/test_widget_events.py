"""The server -> widget events keep the wire format docs/widget-protocol.md and widget/src read:
event names, field names, value formats and key order, pushed to the conversation's room."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from zora.models import Author, FileInfo, StoredMessage
from zora.push import push
from zora.widget_events import (
    MessageDeleted,
    MessageFiles,
    MessageUpdated,
    NewMessage,
    ReceiptChanged,
    ShopperEvent,
    StatusChanged,
)

CID = UUID("0b7f6c1e-3f0a-4a52-9a0e-2d4a7f1c9b11")
FILE = UUID("5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
AT = datetime(2026, 12, 6, 2, 30, 15, 123456, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None:
        # As socket.io serialises it: key order and value types are what the widget gets.
        self.sent.append((event, json.dumps(data), str(conversation_id)))


async def _wire(event: ShopperEvent) -> tuple[str, str, str]:
    recorder = Recorder()
    await push(recorder, event)
    assert len(recorder.sent) == 1
    return recorder.sent[0]


async def test_each_event_as_the_widget_reads_it() -> None:
    cid = str(CID)
    file = FileInfo(id=FILE, name="a.pdf", type="application/pdf", size=3, state="ready", url=f"/widget/files/{FILE}")
    cases: list[tuple[ShopperEvent, str, dict[str, Any]]] = [
        (
            StatusChanged(conversation_id=CID, seq=3, client_id="c-17", status="delivered"),
            "status",
            {"conversation_id": cid, "seq": 3, "client_id": "c-17", "status": "delivered"},
        ),
        (
            ReceiptChanged(conversation_id=CID, delivered_upto=4, seen_upto=2),
            "receipt",
            {"conversation_id": cid, "delivered_upto": 4, "seen_upto": 2},
        ),
        (
            MessageUpdated(conversation_id=CID, seq=5, body="It ships Tuesday", edited_at=AT),
            "message_updated",
            {"conversation_id": cid, "seq": 5, "body": "It ships Tuesday", "edited_at": AT.isoformat()},
        ),
        (MessageDeleted(conversation_id=CID, seq=6), "message_deleted", {"conversation_id": cid, "seq": 6}),
        (
            MessageFiles(conversation_id=CID, seq=7, files=[file]),
            "message_files",
            {
                "conversation_id": cid,
                "seq": 7,
                "files": [
                    {
                        "id": str(FILE),
                        "name": "a.pdf",
                        "type": "application/pdf",
                        "size": 3,
                        "state": "ready",
                        "url": f"/widget/files/{FILE}",
                    }
                ],
            },
        ),
    ]
    for event, name, payload in cases:
        assert await _wire(event) == (name, json.dumps(payload), cid)
    # The edit time as isoformat has always been sent (+00:00), unlike a Message's times (Z).
    assert AT.isoformat().endswith("+00:00")


async def test_a_message_is_the_stored_message_itself() -> None:
    message = StoredMessage(
        conversation_id=CID,
        seq=2,
        client_id=None,
        direction="agent",
        author=Author(name="Ana"),
        body="Hello",
        created_at=AT,
        status="delivered",
    )
    name, data, room = await _wire(NewMessage.of(message))
    assert (name, room) == ("message", str(CID))
    assert json.loads(data) == {
        "conversation_id": str(CID),
        "seq": 2,
        "client_id": None,
        "direction": "agent",
        "author": {"name": "Ana", "avatar_url": None},
        "body": "Hello",
        "created_at": "2026-12-06T02:30:15.123456Z",
        "status": "delivered",
        "edited_at": None,
        "deleted": False,
        "files": [],
        "assistant": False,
    }
