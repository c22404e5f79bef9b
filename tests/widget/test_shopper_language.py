"""Issue 11 §3: every text a shopper gets outside the widget is in their language (the locale the widget
sends), with the merchant's overrides first: the address-confirmation email, the missed-reply email, the
transcript on resolve and the closing message. A real SMTP server (aiosmtpd) catches the mail."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Shopper, Zora, running_zora
from tests.helpers import set_shop_settings, smtp_options, wait_for_mail
from zora.mail_catcher import CaughtMail, MailCatcher


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {**smtp_options(catcher.smtp_port), "offline_email_after_minutes": 0.02}


@pytest.fixture(scope="module")
async def zora(zora: Zora) -> Zora:
    zora.settings.public_url = zora.base_url  # the confirmation link points at Zora itself
    return zora


def _html(mail: CaughtMail) -> str:
    part = mail.message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


async def _confirmed_shopper(zora: Zora, catcher: MailCatcher, locale: str) -> tuple[dict[str, Any], Shopper, str]:
    address = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    ack = await shopper.call("profile", {"name": "Ana", "email": address, "locale": locale})
    assert ack == {"ok": True, "confirmation": "sent"}
    return session, shopper, address


async def _write_and_get_reply(zora: Zora, shopper: Shopper, locale: str, reply: str) -> str:
    text = f"question {uuid.uuid4().hex[:6]}"
    ack = await shopper.call("message", {"client_id": uuid.uuid4().hex, "body": text, "locale": locale})
    assert ack["ok"], ack
    while not any(p.get("text") == text for p in zora.standin.posted):
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
    thread_ts = str(next(p for p in zora.standin.posted if p.get("text") == text)["thread_ts"])
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, reply, user=AGENT) == 200
    await shopper.wait_for(lambda: any(m["body"] == reply for m in shopper.agent_messages()))
    return thread_ts


async def test_emails_are_in_the_shoppers_language_with_the_merchants_overrides(
    zora: Zora, catcher: MailCatcher
) -> None:
    await set_shop_settings(
        zora,
        transcript_on_resolve=True,
        languages=["en", "fr"],
        # The merchant's own words for French (an override is used as written: no placeholders, and
        # what looks like HTML stays text in the HTML part).
        texts={
            "fr": {"transcript_subject": "Votre échange avec <Slow Goods>", "missed_intro": "Réponse de <b>Ada</b> :"}
        },
    )
    try:
        session, shopper, address = await _confirmed_shopper(zora, catcher, "fr-CA")
        [asked] = await wait_for_mail(catcher, address, 1)
        assert "confirmez votre adresse e-mail" in str(asked.message["Subject"])
        assert "Si c'était vous" in asked.text
        link = re.search(r"(http://\S+/widget/confirm\?code=([A-Za-z0-9_-]+)&lang=fr)\s", asked.text)
        assert link is not None
        # The page the link opens asks in French, and its button keeps the language.
        async with zora.http.get(link.group(1)) as resp:
            page = await resp.text()
            assert resp.status == 200 and '<html lang="fr">' in page and "Confirmer mon e-mail" in page
        form = {"code": link.group(2), "lang": "fr"}
        async with zora.http.post(f"{zora.base_url}/widget/confirm", data=form) as resp:
            assert resp.status == 200 and "votre e-mail est confirmé" in await resp.text()
        async with zora.http.post(f"{zora.base_url}/widget/confirm", data=form) as resp:
            assert resp.status == 410 and "a déjà servi" in await resp.text()

        thread_ts = await _write_and_get_reply(zora, shopper, "fr-CA", "Oui, dès lundi.")
        await shopper.close()
        missed = (await wait_for_mail(catcher, address, 2))[1]
        assert "une nouvelle réponse à votre message" in str(missed.message["Subject"])
        assert "Bonjour Ana," in missed.text and "Réponse de <b>Ada</b> :" in missed.text
        assert "Reprendre la conversation" in missed.text
        assert "Réponse de &lt;b&gt;Ada&lt;/b&gt; :" in _html(missed)

        assert await zora.standin.press_button(CHANNEL, thread_ts, "zora_resolve", session["conversation_id"]) == 200
        transcript = (await wait_for_mail(catcher, address, 3))[2]
        assert str(transcript.message["Subject"]) == "Votre échange avec <Slow Goods>"
        assert "Voici votre conversation avec" in transcript.text and "Vous (" in transcript.text
    finally:
        await set_shop_settings(zora)


async def test_a_language_zora_does_not_speak_gets_the_shops_first_language(zora: Zora, catcher: MailCatcher) -> None:
    await set_shop_settings(zora, languages=["de", "en"], texts={"default": {"confirm_subject": "Bitte bestätigen"}})
    try:
        _, _, address = await _confirmed_shopper(zora, catcher, "pt-BR")
        [asked] = await wait_for_mail(catcher, address, 1)
        # The shop's "default" override wins over the built-in German; the body is Zora's German.
        assert str(asked.message["Subject"]) == "Bitte bestätigen"
        assert "Wenn Sie das waren" in asked.text
        # A language Zora speaks is kept even when the shop did not list it (the widget speaks it too).
        _, _, other = await _confirmed_shopper(zora, catcher, "ja")
        [japanese] = await wait_for_mail(catcher, other, 1)
        assert str(japanese.message["Subject"]) == "Bitte bestätigen" and "ご本人の場合" in japanese.text
    finally:
        await set_shop_settings(zora)


async def test_the_closing_message_is_in_the_shoppers_language(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, idle_close_hours=1.5 / 3600) as zora:
        await set_shop_settings(zora, texts={"de": {"closing": "Tschüss von Slow Goods!"}})
        closings = {}
        for locale in ("es-MX", "de-AT"):
            session = await zora.session()
            shopper = await zora.shopper(session["token"])
            ack = await shopper.call("message", {"client_id": uuid.uuid4().hex, "body": "hola?", "locale": locale})
            assert ack["ok"], ack
            await shopper.wait_for(lambda s=shopper: bool(s.agent_messages()), timeout=60)
            closings[locale] = shopper.agent_messages()[0]["body"]
        assert closings["es-MX"].startswith("Cerramos esta conversación")
        assert closings["de-AT"] == "Tschüss von Slow Goods!"


async def test_the_confirmation_page_without_a_language_takes_the_browsers(zora: Zora) -> None:
    headers = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    async with zora.http.get(f"{zora.base_url}/widget/confirm?code=short", headers=headers) as resp:
        assert resp.status == 400 and "Dieser Link ist unvollständig" in await resp.text()
    # A language Zora does not speak in the link: the browser's, then English; never the parameter itself.
    async with zora.http.get(f"{zora.base_url}/widget/confirm?code=short&lang=<b>x</b>") as resp:
        page = await resp.text()
        assert '<html lang="en">' in page and "<b>x" not in page
