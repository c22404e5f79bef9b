"""Emails to shoppers name the files in the messages, with links when Zora's public URL is known."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

from zora.files import file_url
from zora.mail import digest_email, transcript_email
from zora.models import Author, FileInfo, StoredMessage


def _message(files: list[FileInfo], body: str = "") -> StoredMessage:
    return StoredMessage(
        conversation_id=uuid.uuid4(),
        seq=2,
        client_id=None,
        direction="agent",
        author=Author(name="Ada"),
        body=body,
        created_at=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        status="stored",
        files=files,
    )


def _parts(email: EmailMessage) -> tuple[str, str]:
    text = email.get_body(("plain",))
    rich = email.get_body(("html",))
    assert text is not None and rich is not None
    return text.get_content(), rich.get_content()


def test_digest_links_ready_files_and_names_the_others() -> None:
    ready_id = uuid.uuid4()
    files = [
        FileInfo(id=ready_id, name="label <1>.png", type="image/png", size=2048, state="ready", url=file_url(ready_id)),
        FileInfo(id=uuid.uuid4(), name="setup.zip", type="application/zip", size=10, state="failed"),
    ]
    email = digest_email(
        shop_name="Shop",
        to_address="ana@example.com",
        to_name=None,
        messages=[_message(files, "Here you go")],
        link="https://shop.example/",
        message_id="<x@y>",
        files_base="https://zora.example.com/",
    )
    text, rich = _parts(email)
    assert f"[file] label <1>.png (2 KB) https://zora.example.com/widget/files/{ready_id}" in text
    assert "[file] setup.zip (10 B)" in text and "setup.zip (10 B) http" not in text
    assert f'href="https://zora.example.com/widget/files/{ready_id}"' in rich
    assert "label &lt;1&gt;.png" in rich and "<1>" not in rich


def test_without_a_public_url_files_are_named_only() -> None:
    file_id = uuid.uuid4()
    files = [
        FileInfo(id=file_id, name="a.pdf", type="application/pdf", size=3000, state="ready", url=file_url(file_id))
    ]
    email = transcript_email(
        shop_name="Shop", to_address="ana@example.com", to_name="Ana", messages=[_message(files)], message_id="<t@y>"
    )
    text, rich = _parts(email)
    assert "[file] a.pdf (3 KB)" in text and "/widget/files/" not in text
    assert "a.pdf" in rich and "href" not in rich
