"""Files in the widget, in a real browser (Debian's chromium), found by role and accessible name: a
shopper attaches an image or a PDF and it reaches the Slack thread; files the widget or the server
refuse are never sent; an agent's file shared in Slack shows up inline for the shopper."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import AGENT, CHANNEL, Zora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

TEN_MIB = 10 * 1024 * 1024


def png(width: int = 3, height: int = 2) -> bytes:
    """A real (tiny, red) PNG: the server checks the first bytes and the browser has to draw it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xd0\x20\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf(size: int) -> bytes:
    """A one-page PDF padded (with a comment) to exactly `size` bytes."""
    body = (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    )
    tail = b"trailer <</Root 1 0 R>>\n%%EOF\n"
    return body + b"%" + b"x" * (size - len(body) - len(tail) - 2) + b"\n" + tail


async def open_chat(zora: Zora, context: Any) -> Any:
    page = await context.new_page()
    await open_store(zora, page)
    await page.get_by_role("button", name="Chat with us").click()
    return page


def file_input(page: Any) -> Any:
    """The composer's file input (hidden: the "Attach a file" button opens it)."""
    return page.get_by_role("dialog", name="Chat").locator("input[type=file]")


def message(page: Any, text: str) -> Any:
    return page.get_by_role("log").locator(".msg", has_text=text)


async def thread_of(zora: Zora, text: str) -> str:
    while not any(p.get("text") == text for p in zora.standin.posted):
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
    return str(next(p for p in zora.standin.posted if p.get("text") == text)["thread_ts"])


async def uploaded(zora: Zora, page: Any, thread_ts: str, name: str) -> list[dict[str, Any]]:
    """The files Zora uploaded into that thread under that name, once there is one."""
    while not (found := [u for u in zora.standin.uploads if u["thread_ts"] == thread_ts and u["name"] == name]):
        await page.wait_for_timeout(50)
    return found


async def drawn(image: Any, width: int) -> None:
    """The browser fetched the image from Zora and decoded it (its real width, once it has loaded)."""
    await expect(image).to_have_js_property("naturalWidth", width)


async def test_shopper_attaches_an_image_and_a_pdf_and_both_reach_the_thread(zora: Zora, context: Any) -> None:
    page = await open_chat(zora, context)
    composer = page.get_by_role("textbox", name="Message")
    image = png()

    # With text: the button opens the file chooser; the text in the composer goes with the file.
    await composer.fill("The handle of my mug came off")
    async with page.expect_file_chooser() as chooser_info:
        await page.get_by_role("button", name="Attach a file").click()
    chooser = await chooser_info.value
    await chooser.set_files({"name": "mug.png", "mimeType": "image/png", "buffer": image})
    await expect(composer).to_have_value("")
    mine = message(page, "The handle of my mug came off")
    shown = mine.get_by_role("img", name="mug.png")
    await expect(shown).to_be_visible()
    await expect(mine).to_contain_text("Delivered")
    await drawn(shown, 3)
    # The image opens the full file (Zora's copy) in a new tab.
    link = mine.get_by_role("link", name="mug.png")
    await expect(link).to_have_attribute("target", "_blank")
    href = await link.get_attribute("href")
    assert href.startswith(f"{zora.base_url}/widget/files/")
    async with zora.http.get(href) as resp:
        assert resp.status == 200
        assert await resp.read() == image

    thread_ts = await thread_of(zora, "The handle of my mug came off")
    [upload] = await uploaded(zora, page, thread_ts, "mug.png")
    assert (upload["channel"], upload["mimetype"], upload["content"]) == (CHANNEL, "image/png", image)

    # Only a file (nothing typed): the message has no text, just the PDF's name and size.
    await file_input(page).set_input_files(
        {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": pdf(48 * 1024)}
    )
    receipt = page.get_by_role("link", name="receipt.pdf · 48 kB")
    only_file = page.get_by_role("log").locator(".msg", has=receipt)
    await expect(only_file.get_by_role("link", name="receipt.pdf · 48 kB")).to_be_visible()
    await expect(only_file).to_contain_text("Delivered")
    await expect(only_file.locator(".bubble")).to_be_hidden()  # no empty bubble
    [upload] = await uploaded(zora, page, thread_ts, "receipt.pdf")
    assert upload["content"] == pdf(48 * 1024)

    # Offline, the file waits with its name shown as "Sending…"; back online it is uploaded and sent once.
    await context.set_offline(True)
    await file_input(page).set_input_files({"name": "offline.png", "mimeType": "image/png", "buffer": png(5, 5)})
    await expect(message(page, "offline.png · 0.1 kB")).to_contain_text("Sending…")
    waiting = page.locator(f'[data-client-id="{await message(page, "offline.png").get_attribute("data-client-id")}"]')
    await expect(waiting.get_by_role("img")).to_have_count(0)
    await context.set_offline(False)
    await expect(waiting).to_contain_text("Delivered", timeout=15_000)  # the upload waits for its next retry
    await drawn(waiting.get_by_role("img", name="offline.png"), 5)
    [upload] = await uploaded(zora, page, thread_ts, "offline.png")
    assert upload["content"] == png(5, 5)

    # After a reload: each message once, the image drawn again from Zora.
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await expect(page.get_by_role("img", name="mug.png")).to_have_count(1)
    await expect(page.get_by_role("link", name="receipt.pdf · 48 kB")).to_have_count(1)
    await expect(page.get_by_role("img", name="offline.png")).to_have_count(1)
    await drawn(page.get_by_role("img", name="mug.png"), 3)
    assert len([u for u in zora.standin.uploads if u["thread_ts"] == thread_ts]) == 3


async def test_files_refused_by_the_widget_or_the_server_are_never_sent(zora: Zora, context: Any) -> None:
    page = await open_chat(zora, context)
    uploads: list[str] = []

    def note_upload(request: Any) -> None:
        if "/widget/files" in request.url:
            uploads.append(request.url)

    page.on("request", note_upload)
    composer = page.get_by_role("textbox", name="Message")
    alert = page.get_by_role("dialog", name="Chat").get_by_role("alert")
    attach = file_input(page)

    # Not an allowed type: the widget says which types are, and uploads nothing.
    await attach.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"})
    await expect(alert).to_have_text("notes.txt cannot be sent: only PNG, JPEG, GIF, WEBP, PDF files are allowed.")
    # Over the limit the session answer gives (10 MiB): the widget says the limit.
    await attach.set_input_files({"name": "huge.png", "mimeType": "image/png", "buffer": png() + bytes(TEN_MIB)})
    await expect(alert).to_have_text("huge.png is too large to send (at most 10 MB).")

    # The widget cannot tell a fake PNG: the server refuses it (415) and the widget shows its reason.
    await composer.fill("Here is the photo")
    await attach.set_input_files({"name": "fake.png", "mimeType": "image/png", "buffer": b"<svg onload=alert(1)>"})
    token = await page.evaluate(f"localStorage.getItem('zora:{zora.shop}:token')")
    async with zora.http.post(
        f"{zora.base_url}/widget/files",
        params={"name": "fake.png"},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
        data=b"<svg onload=alert(1)>",
    ) as resp:
        assert resp.status == 415
        reason = (await resp.json())["error"]["message"]
    await expect(alert).to_have_text(f"fake.png was not sent: {reason}")
    await expect(composer).to_have_value("Here is the photo")  # the text is given back

    # Only the fake PNG reached the server (once); nothing was stored or sent, no message is shown.
    assert len(uploads) == 1
    await expect(page.get_by_role("log").locator(".msg.me")).to_have_count(0)
    conversation_id = await page.evaluate("window.Zora.ready.then((d) => d.conversation_id)")
    assert await zora.fetch("SELECT id FROM files WHERE conversation_id = $1::uuid", conversation_id) == []
    assert not [p for p in zora.standin.posted if p.get("text") == "Here is the photo"]

    # The shopper can still send the text, and a real image, afterwards.
    await attach.set_input_files({"name": "real.png", "mimeType": "image/png", "buffer": png()})
    await expect(message(page, "Here is the photo").get_by_role("img", name="real.png")).to_be_visible()
    await expect(message(page, "Here is the photo")).to_contain_text("Delivered")


async def test_an_agents_file_shared_in_slack_shows_in_the_widget(zora: Zora, context: Any) -> None:
    page = await open_chat(zora, context)
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Can I see the blue one?")
    await composer.press("Enter")
    await expect(message(page, "Can I see the blue one?")).to_contain_text("Delivered")
    thread_ts = await thread_of(zora, "Can I see the blue one?")

    # An image with a comment: it arrives inline, with its name as the alternative text.
    image = png(4, 4)
    status = await zora.standin.share_file(
        CHANNEL, thread_ts, "blue-mug.png", image, "image/png", text="Here it is!", user=AGENT
    )
    assert status == 200
    reply = message(page, "Here it is!")
    await expect(reply).to_contain_text("Ada Agent")
    shown = reply.get_by_role("img", name="blue-mug.png")
    await expect(shown).to_be_visible()
    await drawn(shown, 4)
    # An answer after the shopper's message: it is seen.
    await expect(message(page, "Can I see the blue one?")).to_contain_text("Seen")

    # A PDF with no text, and a file too large for Zora to copy: the name, and that it is not available.
    share = zora.standin.share_file
    assert await share(CHANNEL, thread_ts, "care.pdf", pdf(3000), "application/pdf", user=AGENT) == 200
    too_large = TEN_MIB + 1
    assert (
        await share(CHANNEL, thread_ts, "catalogue.pdf", pdf(3000), "application/pdf", user=AGENT, size=too_large)
        == 200
    )
    log = page.get_by_role("log")
    await expect(log.get_by_role("link", name="care.pdf · 2.9 kB")).to_be_visible()
    await expect(log).to_contain_text("catalogue.pdf · not available")
    await expect(log.get_by_role("link", name="catalogue.pdf")).to_have_count(0)

    # The copies are Zora's: after a reload they are still there, once each.
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await expect(page.get_by_role("img", name="blue-mug.png")).to_have_count(1)
    await drawn(page.get_by_role("img", name="blue-mug.png"), 4)
    await expect(page.get_by_role("link", name="care.pdf · 2.9 kB")).to_have_count(1)
    await expect(page.get_by_role("log")).to_contain_text("catalogue.pdf · not available")


class HeldUploads:
    """Holds the widget's uploads (`POST /widget/files`) until the test answers each one."""

    def __init__(self) -> None:
        self.routes: list[Any] = []

    async def hold(self, page: Any) -> None:
        await page.route(lambda url: "/widget/files?" in url, self._held)

    async def _held(self, route: Any) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        self.routes.append(route)

    async def held(self, page: Any, n: int) -> list[Any]:
        """Waits until `n` uploads are held."""
        while len(self.routes) < n:
            await page.wait_for_timeout(20)
        return self.routes


async def stored(zora: Zora, conversation_id: str) -> list[tuple[int, str, str | None]]:
    """The conversation's messages as stored, in seq order: (seq, body, name of its file)."""
    rows = await zora.fetch(
        "SELECT m.seq, m.body, f.name FROM messages m"
        " LEFT JOIN files f ON f.conversation_id = m.conversation_id AND f.message_seq = m.seq"
        " WHERE m.conversation_id = $1::uuid ORDER BY m.seq",
        conversation_id,
    )
    return [(r["seq"], r["body"], r["name"]) for r in rows]


async def shown_in_order(page: Any) -> list[str]:
    """The shopper's messages in the order the widget shows them: each one's text, or its image's name."""
    mine = page.get_by_role("log").locator(".msg.me")
    texts: list[str] = await mine.evaluate_all(
        "els => els.map((e) => (e.querySelector('img') || {}).alt || e.querySelector('.bubble').textContent)"
    )
    return texts


async def test_messages_keep_the_shoppers_order_while_a_file_uploads(zora: Zora, context: Any) -> None:
    page = await open_chat(zora, context)
    composer = page.get_by_role("textbox", name="Message")
    conversation_id = await page.evaluate("window.Zora.ready.then((d) => d.conversation_id)")
    await composer.fill("Hello, about my order")
    await composer.press("Enter")
    await expect(message(page, "Hello, about my order")).to_contain_text("Delivered")
    thread_ts = await thread_of(zora, "Hello, about my order")

    # Two photos picked in a row (a slow mobile upload: held), then a text about them.
    uploads = HeldUploads()
    await uploads.hold(page)
    await file_input(page).set_input_files({"name": "first.png", "mimeType": "image/png", "buffer": png(6, 6)})
    await file_input(page).set_input_files({"name": "second.png", "mimeType": "image/png", "buffer": png(7, 7)})
    first, second = await uploads.held(page, 2)
    await composer.fill("see the photos above")
    await composer.press("Enter")
    await expect(message(page, "see the photos above")).to_contain_text("Sending…")

    # The second photo is uploaded first: it still waits for the first one, and so does the text.
    await second.continue_()
    log = page.get_by_role("log")
    await expect(log.get_by_role("img", name="second.png")).to_be_visible()
    await expect(message(page, "see the photos above")).to_contain_text("Sending…")

    # The first photo arrives: then everything goes, in the shopper's order.
    await first.continue_()
    await expect(message(page, "see the photos above")).to_contain_text("Delivered")
    for name in ("first.png", "second.png"):
        await expect(log.locator(".msg.me", has=page.get_by_role("img", name=name))).to_contain_text("Delivered")
    rows = await stored(zora, conversation_id)
    assert [(body, name) for _, body, name in rows] == [
        ("Hello, about my order", None),
        ("", "first.png"),
        ("", "second.png"),
        ("see the photos above", None),
    ]
    assert [seq for seq, _, _ in rows] == sorted(seq for seq, _, _ in rows)

    # The Slack thread has them in that order too.
    await uploaded(zora, page, thread_ts, "second.png")
    thread = zora.standin.thread(CHANNEL, thread_ts)
    order = [
        next(i for i, m in enumerate(thread) if any(f.get("name") == "first.png" for f in m.get("files", []))),
        next(i for i, m in enumerate(thread) if any(f.get("name") == "second.png" for f in m.get("files", []))),
        next(i for i, m in enumerate(thread) if m.get("text") == "see the photos above"),
    ]
    assert order == sorted(order), thread

    # And so does the widget after a reload, each message once.
    await page.unroute_all()
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await expect(page.get_by_role("log").get_by_role("img", name="second.png")).to_be_visible()
    assert await shown_in_order(page) == ["Hello, about my order", "first.png", "second.png", "see the photos above"]


async def test_a_refused_upload_lets_the_messages_behind_it_go(zora: Zora, context: Any) -> None:
    page = await open_chat(zora, context)
    composer = page.get_by_role("textbox", name="Message")
    alert = page.get_by_role("dialog", name="Chat").get_by_role("alert")
    conversation_id = await page.evaluate("window.Zora.ready.then((d) => d.conversation_id)")
    uploads = HeldUploads()
    await uploads.hold(page)

    # A photo with a caption, held; then a text, which waits for it.
    await composer.fill("My broken mug")
    await file_input(page).set_input_files({"name": "mug.png", "mimeType": "image/png", "buffer": png()})
    [held] = await uploads.held(page, 1)
    await expect(composer).to_have_value("")
    await composer.fill("It arrived like this")
    await composer.press("Enter")
    await expect(message(page, "It arrived like this")).to_contain_text("Sending…")

    # The server refuses the file: the message with it is gone, its caption given back, the text sent.
    reason = "The file is not a PNG image."
    await held.fulfill(
        status=415,
        content_type="application/json",
        body=json.dumps({"error": {"code": "unsupported_type", "message": reason}}),
    )
    await expect(alert).to_have_text(f"mug.png was not sent: {reason}")
    await expect(message(page, "It arrived like this")).to_contain_text("Delivered")
    await expect(message(page, "My broken mug")).to_have_count(0)
    await expect(composer).to_have_value("My broken mug")
    assert [(body, name) for _, body, name in await stored(zora, conversation_id)] == [("It arrived like this", None)]
    await thread_of(zora, "It arrived like this")


async def test_a_file_still_uploading_when_the_page_reloads_is_dropped_and_the_rest_goes(
    zora: Zora, context: Any
) -> None:
    page = await open_chat(zora, context)
    composer = page.get_by_role("textbox", name="Message")
    conversation_id = await page.evaluate("window.Zora.ready.then((d) => d.conversation_id)")
    uploads = HeldUploads()
    await uploads.hold(page)
    await composer.fill("Here is the label")
    await file_input(page).set_input_files({"name": "label.png", "mimeType": "image/png", "buffer": png()})
    await uploads.held(page, 1)
    await composer.fill("Can you read it?")
    await composer.press("Enter")
    await expect(message(page, "Can you read it?")).to_contain_text("Sending…")

    # The page goes away before the upload finished (it is still held): the file, which is not kept
    # in localStorage, is lost. The widget says so, gives the text back and sends what came after.
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    alert = page.get_by_role("dialog", name="Chat").get_by_role("alert")
    await expect(alert).to_have_text("label.png was not sent: the page was reloaded before it was uploaded.")
    await expect(composer).to_have_value("Here is the label")
    await expect(message(page, "Can you read it?")).to_contain_text("Delivered")
    await expect(message(page, "Here is the label")).to_have_count(0)
    assert [(body, name) for _, body, name in await stored(zora, conversation_id)] == [("Can you read it?", None)]
    outbox = await page.evaluate(f"localStorage.getItem('zora:{zora.shop}:outbox')")
    assert json.loads(outbox) == []
