"""Files from the shopper: upload, limits, sending with a message, into the Slack thread, download."""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import CHANNEL, Zora, running_zora


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    # The default upload limit (the harness lifts every limit; this module tests this one).
    return {"file_max_bytes": 4096, "rate_uploads_per_conversation": "30/10 minutes"}


@pytest.fixture
def zora(fresh_zora: Zora) -> Zora:
    return fresh_zora


async def upload(
    zora: Zora, token: str | None, data: bytes, content_type: str = "image/png", name: str | None = "photo.png"
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    params = {} if name is None else {"name": name}
    async with zora.http.post(f"{zora.base_url}/widget/files", params=params, data=data, headers=headers) as resp:
        body: dict[str, Any] = await resp.json()
        return resp.status, body


async def stored_files(zora: Zora) -> int:
    rows = await zora.fetch("SELECT count(*) AS n FROM files WHERE shop_id = $1", zora.shop_id)
    return int(rows[0]["n"])


async def test_a_shoppers_photo_reaches_the_thread_and_can_be_downloaded(zora: Zora) -> None:
    shopper = await zora.shopper()
    image = png()
    status, answer = await upload(zora, shopper.token, image, name="broken lid.png")
    assert status == 201, answer
    file = answer["file"]
    assert (file["name"], file["type"], file["size"], file["state"]) == (
        "broken lid.png",
        "image/png",
        len(image),
        "ready",
    )

    ack = await shopper.call("message", {"client_id": "c-1", "body": "It arrived like this", "files": [file["id"]]})
    assert ack["ok"], ack
    await shopper.wait_for(lambda: any(s["status"] == "delivered" and s["seq"] == ack["seq"] for s in shopper.statuses))

    echoed = next(m for m in shopper.received if m["seq"] == ack["seq"])
    assert [f["id"] for f in echoed["files"]] == [file["id"]]
    # The text is a normal post in the thread, the file an upload into the same thread.
    posts = [p for p in zora.standin.posted if p.get("text") == "It arrived like this"]
    assert len(posts) == 1
    thread_ts = posts[0]["thread_ts"]
    assert [(u["channel"], u["thread_ts"], u["name"], u["content"]) for u in zora.standin.uploads] == [
        (CHANNEL, thread_ts, "broken lid.png", image)
    ]
    assert zora.standin.uploads[0]["mimetype"] == "image/png"

    async with zora.http.get(zora.base_url + file["url"]) as resp:
        assert resp.status == 200
        assert await resp.read() == image
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"].startswith("sandbox")
        assert resp.headers["Content-Disposition"] == "inline; filename*=UTF-8''broken%20lid.png"

    # A reload replays the message with its file.
    resumed = await shopper.call("resume", {"since_seq": 0})
    assert [f["name"] for f in resumed["messages"][0]["files"]] == ["broken lid.png"]


async def test_a_file_only_message_and_a_pdf(zora: Zora) -> None:
    shopper = await zora.shopper()
    _, answer = await upload(zora, shopper.token, PDF, "application/pdf", "invoice.pdf")
    ack = await shopper.call("message", {"client_id": "c-pdf", "body": "", "files": [answer["file"]["id"]]})
    assert ack["ok"], ack
    await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
    assert [(u["name"], u["mimetype"]) for u in zora.standin.uploads] == [("invoice.pdf", "application/pdf")]
    # Downloaded rather than shown: browsers will not render a PDF in the sandbox Zora serves files in.
    async with zora.http.get(zora.base_url + answer["file"]["url"]) as resp:
        assert resp.headers["Content-Disposition"].startswith("attachment;")
        assert resp.headers["Cache-Control"] == "no-store"
        assert await resp.read() == PDF
    # Nothing but the card was posted as text: a message that is only a file is only an upload.
    assert [p["thread_ts"] for p in zora.standin.posted] == [None]


async def test_a_failed_upload_is_retried_without_posting_the_text_twice(zora: Zora) -> None:
    shopper = await zora.shopper()
    _, answer = await upload(zora, shopper.token, png())
    zora.standin.fail("files.getUploadURLExternal", "internal_error")
    ack = await shopper.call("message", {"client_id": "c-2", "body": "see photo", "files": [answer["file"]["id"]]})
    assert ack["ok"]
    # The fast path fails half-way; the conversation's workflow finishes the job.
    await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses), timeout=30)
    assert [p["text"] for p in zora.standin.posted if p["thread_ts"]] == ["see photo"]
    assert len(zora.standin.uploads) == 1
    rows = await zora.fetch("SELECT slack_file_id FROM files WHERE id = $1", uuid.UUID(answer["file"]["id"]))
    assert rows[0]["slack_file_id"] == zora.standin.uploads[0]["id"]


async def test_without_the_files_write_scope_agents_get_a_link_instead(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, public_url="https://zora.example.com") as zora:
        shopper = await zora.shopper()
        _, answer = await upload(zora, shopper.token, png(), name="scratch.png")
        # An app installed before Zora sent files: Slack answers missing_scope.
        zora.standin.fail("files.getUploadURLExternal", "missing_scope")
        ack = await shopper.call("message", {"client_id": "s-1", "body": "look", "files": [answer["file"]["id"]]})
        await shopper.wait_for(
            lambda: any(s["seq"] == ack["seq"] and s["status"] == "delivered" for s in shopper.statuses)
        )
        texts = [p["text"] for p in zora.standin.posted if p["thread_ts"]]
        assert texts[0] == "look"
        assert "scratch.png" in texts[1] and "files:write" in texts[1]
        assert f"https://zora.example.com/widget/files/{answer['file']['id']}" in texts[1]
        assert zora.standin.uploads == []
        # The shop's Slack is not marked broken for it.
        rows = await zora.fetch("SELECT slack_error FROM shops WHERE id = $1", zora.shop_id)
        assert rows[0]["slack_error"] is None


@pytest.mark.parametrize(
    ("data", "content_type", "name", "status", "code"),
    [
        (b"<html><script>alert(1)</script></html>", "text/html", "x.html", 415, "unsupported_type"),
        # Claims to be a PNG, is HTML: the bytes decide.
        (b"<html><script>alert(1)</script></html>", "image/png", "x.png", 415, "unsupported_type"),
        (PDF, "image/png", "x.png", 415, "unsupported_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000, "image/png", "big.png", 413, "file_too_large"),
        (png(), "image/png", None, 400, "invalid_request"),
        (png(), "image/png", "x" * 300, 400, "invalid_request"),
        (b"", "image/png", "empty.png", 400, "invalid_request"),
    ],
)
async def test_bad_uploads_are_refused_with_a_reason_and_nothing_is_stored(
    zora: Zora, data: bytes, content_type: str, name: str | None, status: int, code: str
) -> None:
    token = (await zora.session())["token"]
    got, answer = await upload(zora, token, data, content_type, name)
    assert (got, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]
    assert await stored_files(zora) == 0


async def test_size_limit_holds_without_a_content_length(zora: Zora) -> None:
    token = (await zora.session())["token"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(10):
            yield b"\x00" * 1000

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/png"}
    async with zora.http.post(
        f"{zora.base_url}/widget/files", params={"name": "s.png"}, data=chunks(), headers=headers
    ) as resp:
        assert resp.status == 413
    assert await stored_files(zora) == 0


async def test_upload_needs_a_valid_token(zora: Zora) -> None:
    assert (await upload(zora, None, png()))[0] == 401
    assert (await upload(zora, "not-a-token", png()))[0] == 401
    assert await stored_files(zora) == 0


async def test_waiting_uploads_are_capped_per_conversation(zora: Zora) -> None:
    token = (await zora.session())["token"]
    for _ in range(10):
        assert (await upload(zora, token, png()))[0] == 201
    status, answer = await upload(zora, token, png())
    assert (status, answer["error"]["code"]) == (429, "too_many_files")
    assert await stored_files(zora) == 10


async def test_a_message_can_only_send_this_shoppers_waiting_uploads(zora: Zora) -> None:
    alice = await zora.shopper()
    bob = await zora.shopper()
    _, bobs = await upload(zora, bob.token, png())
    _, alices = await upload(zora, alice.token, png())

    async def refused(data: dict[str, Any]) -> None:
        ack = await alice.call("message", data)
        assert not ack["ok"] and ack["error"]["code"] == "invalid_payload", ack

    await refused({"client_id": "a-1", "body": "hi", "files": [bobs["file"]["id"]]})  # another conversation's
    await refused({"client_id": "a-2", "body": "hi", "files": [str(uuid.uuid4())]})  # unknown
    await refused({"client_id": "a-3", "body": "hi", "files": ["not-a-uuid"]})
    await refused({"client_id": "a-4", "body": "hi", "files": [alices["file"]["id"]] * 6})  # more than 5
    await refused({"client_id": "a-5", "body": "   ", "files": []})  # nothing to send
    # A refused message stored nothing, and left Alice's upload waiting for a real send.
    assert await zora.fetch("SELECT 1 FROM messages WHERE shop_id = $1", zora.shop_id) == []
    ok = await alice.call("message", {"client_id": "a-6", "body": "", "files": [alices["file"]["id"]]})
    assert ok["ok"], ok
    # A retry of the same client_id is the same message; sending the file again in another is refused.
    again = await alice.call("message", {"client_id": "a-6", "body": "", "files": [alices["file"]["id"]]})
    assert again == ok
    await refused({"client_id": "a-7", "body": "again", "files": [alices["file"]["id"]]})


async def test_an_upload_before_the_first_message_still_starts_the_conversation(zora: Zora) -> None:
    shopper = await zora.shopper()
    session = await zora.session(token=shopper.token)
    _, answer = await upload(zora, shopper.token, png())
    ack = await shopper.call("message", {"client_id": "first", "body": "", "files": [answer["file"]["id"]]})
    assert ack["seq"] == 1
    # Its workflow runs (reminders, idle close) like any conversation's.
    assert await zora.workflow_run_id(session["conversation_id"])


async def test_download_of_unknown_files_is_404(zora: Zora) -> None:
    for path in (f"/widget/files/{uuid.uuid4()}", "/widget/files/nope"):
        async with zora.http.get(zora.base_url + path) as resp:
            assert resp.status == 404


async def test_session_tells_the_widget_the_limits(zora: Zora) -> None:
    session = await zora.session()
    assert session["widget"]["files"]["max_bytes"] == 4096
    assert "application/pdf" in session["widget"]["files"]["types"]


async def test_cors_preflight_allows_the_upload(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, cors_allowed_origins=["https://shop.example"]) as zora:
        headers = {
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        async with zora.http.options(f"{zora.base_url}/widget/files", headers=headers) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example"
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


async def test_an_upload_the_database_refuses_gets_a_json_error_and_stores_nothing(
    infra: Any, database_url: str
) -> None:
    async with running_zora(infra, database_url) as zora:
        token = (await zora.session())["token"]
        # The shop is erased (shop/redact) while a shopper still has the page open: the insert fails.
        await zora.fetch("DELETE FROM shops WHERE id = $1", zora.shop_id)
        status, answer = await upload(zora, token, png())
        assert (status, answer["error"]["code"]) == (503, "unavailable")
        assert await zora.fetch("SELECT 1 FROM files WHERE shop_id = $1", zora.shop_id) == []


async def test_uploads_no_message_sent_are_dropped_after_a_day(zora: Zora) -> None:
    from workflows.sweeper import SweepWorkflow
    from zora.models import SweepRequest

    token = (await zora.session())["token"]
    _, old = await upload(zora, token, png())
    _, recent = await upload(zora, token, png())
    await zora.fetch(
        "UPDATE files SET created_at = now() - interval '25 hours' WHERE id = $1", uuid.UUID(old["file"]["id"])
    )
    handle = await zora.services.temporal.start_workflow(
        SweepWorkflow.run,
        SweepRequest(older_than_seconds=60),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )
    assert (await handle.result()).uploads_dropped >= 1
    left = {r["id"] for r in await zora.fetch("SELECT id FROM files WHERE shop_id = $1", zora.shop_id)}
    assert uuid.UUID(recent["file"]["id"]) in left and uuid.UUID(old["file"]["id"]) not in left


async def test_uploads_are_rate_limited_per_conversation(zora: Zora) -> None:
    from limits import parse

    token = (await zora.session())["token"]
    allowed = parse(zora.settings.rate_uploads_per_conversation).amount
    assert allowed <= 100, "this module sets the upload limit itself"
    statuses = [(await upload(zora, token, b"not an image", "text/plain"))[0] for _ in range(allowed)]
    assert set(statuses) == {415}  # refused for their type, but counted
    async with zora.http.post(
        f"{zora.base_url}/widget/files",
        params={"name": "p.png"},
        data=png(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
    ) as resp:
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limited"
        assert 0 < int(resp.headers["Retry-After"]) <= 600


async def test_the_card_shows_where_the_conversation_started(zora: Zora) -> None:
    import json

    shopper = await zora.shopper()
    bad = await shopper.call("message", {"client_id": "p0", "body": "hi", "page": "javascript:alert(1)"})
    assert not bad["ok"] and bad["error"]["code"] == "invalid_payload"
    before = len(zora.standin.posted)
    page = "https://demo.example/products/blue-mug"
    ack = await shopper.call(
        "message", {"client_id": "p1", "body": "is it dishwasher safe?", "page": page, "locale": "fr"}
    )
    assert ack["ok"] and ack["seq"] == 1  # the refused one stored nothing
    card = (await zora.standin.wait_for_posts(before + 2))[before]
    assert f"{page} · fr" in json.dumps(card["blocks"], ensure_ascii=False)
    # Later messages do not move it: it says where the conversation started.
    assert (await shopper.call("message", {"client_id": "p2", "body": "x", "page": "https://demo.example/cart"}))["ok"]
    rows = await zora.fetch(
        "SELECT storefront_page, locale FROM conversations c JOIN messages m ON m.conversation_id = c.id"
        " WHERE m.client_id = 'p2' AND c.shop_id = $1",
        zora.shop_id,
    )
    assert (rows[0]["storefront_page"], rows[0]["locale"]) == (page, "fr")
