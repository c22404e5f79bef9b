"""Files in the widget, in a real browser (Debian's chromium), found by role and accessible name: a
shopper attaches an image or a PDF and it reaches the Slack thread; files the widget or the server
refuse are never sent; an agent's file shared in Slack shows up inline for the shopper."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import CHROMIUM, NO_BROWSER
from tests.harness import AGENT, CHANNEL, Zora, running_zora

if not CHROMIUM.exists():
    pytest.skip(NO_BROWSER, allow_module_level=True)
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


@pytest.fixture(scope="module")
async def zora(infra: Any, database_url: str) -> AsyncIterator[Zora]:
    async with running_zora(infra, database_url) as z:
        yield z


@pytest.fixture
async def context(zora: Zora, browser: Any) -> AsyncIterator[Any]:
    ctx = await browser.new_context(locale="en-US")
    try:
        yield ctx
    finally:
        if os.environ.get("ZORA_SCREENSHOTS") and ctx.pages:
            await ctx.pages[-1].screenshot(path=os.environ["ZORA_SCREENSHOTS"])
        await ctx.close()


async def open_chat(zora: Zora, context: Any) -> Any:
    page = await context.new_page()
    await page.goto(f"{zora.base_url}/demo?shop={zora.shop}")
    await page.evaluate("window.Zora.ready")
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
