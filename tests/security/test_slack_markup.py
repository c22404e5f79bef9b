"""Issue 10 item 1: a shopper's text is never Slack markup.

Hostile strings go in through the real path (a socket.io shopper, the upload endpoint, Shopify
records, a slash command, a button) and what reaches the Slack stand-in is checked: no `<!…>`,
`<@…>`, `<#…>` or `<http…>` that came from outside Zora, every `&` an entity, Slack's length
limits kept, and the agent reads the shopper's original characters (unescaping what Slack got
gives the string back). plain_text objects carry the raw string.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from activities.shopify import ShopifyActivities
from bot.card import CardData, render
from tests.harness import AGENT, CHANNEL, Zora
from tests.widget.test_files import png
from zora.addresses import InvalidAddress, parse_address
from zora.shop_settings import ShopSettings
from zora.shopify.models import OrderNotice
from zora.slack_text import clip, escape, link, unescape

LONG = "<!channel>&" * 400  # 4400 characters: over every limit Slack has for one text object

HOSTILE = [
    "<!channel>",
    "<!here> please look",
    "<!everyone>",
    "<@U0AGENT001>",
    "<!subteam^S123|@team>",
    "<#C0SUPPORT1>",
    "<https://evil.example|https://admin.shopify.com/x>",
    "<https://evil.example>",
    "&lt;!channel&gt;",
    ">quote",
    "fish & chips &amp; more",
    "*bold* _it_ ~gone~ `code` ```block```",
    "<script>alert(1)</script>",
    "Zoë 🙂 名前 <!here> \u202eevil",
    "@channel @here",
]

# Zora's own markup in what it sends: links to threads (in lists), dates, and the carrier's
# tracking link this module's order has. Nothing else.
ZORA_TOKENS = (
    re.compile(r"https://slack\.com/archives/C[A-Z0-9]+/p\d+\|[^<>]*"),
    re.compile(r"https://t\.example/[^\s|<>]*\|[^<>]*"),
    re.compile(r"!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*"),
)
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
# Documented Block Kit limits (characters).
LIMITS = {"section": 3000, "field": 2000, "context": 2000, "header": 150}


# Zora's mention of the agent who has the conversation, where the card names them.
ASSIGNEE = re.compile(r"(^\*Assignee\*\n<@U[A-Z0-9]+>$)|(, assignee <@U[A-Z0-9]+>$)")


def assert_markup_safe(markup: str, where: str) -> None:
    """`markup` (text Slack parses) holds no markup that is not Zora's own."""
    markup = ASSIGNEE.sub("", markup)
    # `<!`, `<@`, `<#`, `<http` only as Zora's own tokens.
    for token in re.findall(r"<([^<>]*)>", markup):
        assert any(p.fullmatch(token) for p in ZORA_TOKENS), f"{where}: markup <{token}> reached Slack"
    outside = re.sub(r"<[^<>]*>", "", markup)
    assert "<" not in outside and ">" not in outside, f"{where}: a stray < or > in {markup[:200]!r}"
    assert not ENTITY.search(markup), f"{where}: a bare & in {markup[:200]!r}"


def mrkdwn_texts(value: Any, kind: str = "section") -> Iterator[tuple[str, str, str]]:
    """(type, text, block kind) of every text object inside Block Kit JSON."""
    if isinstance(value, dict):
        block = str(value.get("type", kind)) if value.get("type") in ("section", "context", "header") else kind
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield str(value["type"]), value["text"], kind
        for key, item in value.items():
            yield from mrkdwn_texts(item, "field" if key == "fields" else block)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_texts(item, kind)


def check_blocks(blocks: Any, where: str) -> str:
    """Every mrkdwn text is safe and every text object within Slack's limits; what Slack shows."""
    shown = []
    for kind, text, block in mrkdwn_texts(blocks):
        assert len(text) <= LIMITS[block], f"{where}: a {block} text of {len(text)} characters"
        if kind == "mrkdwn":
            assert_markup_safe(text, where)
            shown.append(unescape(text))
        else:
            shown.append(text)
    return "\n".join(shown)


def check_message(message: dict[str, Any], where: str) -> str:
    """A message as Slack stored it: its text (the fallback too) and blocks; what Slack shows."""
    assert_markup_safe(message.get("text", ""), f"{where} text")
    return unescape(message.get("text", "")) + "\n" + check_blocks(message.get("blocks") or [], where)


def prefix(value: str) -> str:
    """What of `value` must reach the agent: all of it, or the start of a string cut to fit."""
    return value if len(value) <= 60 else value[:60]


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {"file_max_bytes": 4096, "public_url": "https://zora.example.com"}


async def conversation(zora: Zora, body: str, profile: dict[str, Any] | None = None, **extra: Any) -> list[Any]:
    """A new shopper writes `body` (after the pre-chat form): [the card, the message] as posted."""
    shopper = await zora.shopper()
    if profile is not None:
        assert (await shopper.call("profile", profile))["ok"]
    before = len(zora.standin.posted)
    ack = await shopper.call("message", {"client_id": "m1", "body": body, **extra})
    assert ack["ok"], ack
    return (await zora.standin.wait_for_posts(before + 2))[before : before + 2]


def sweep_everything_sent(zora: Zora) -> None:
    """Whatever Zora sent to Slack in this module, by any method: no outside markup anywhere, and
    never a parse mode that would turn plain words (`@channel`) into mentions."""
    for method, params in zora.standin.calls:
        if method not in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.publish"):
            continue
        assert str(params.get("link_names", "")).lower() not in ("1", "true"), method
        assert params.get("parse") != "full", method
        if isinstance(params.get("text"), str):
            assert_markup_safe(params["text"], method)
        for key in ("blocks", "view"):
            value = params.get(key)
            if isinstance(value, str):
                value = json.loads(value)
            if value is not None:
                check_blocks(value, method)


# ---------------------------------------------------------------- the one escaping function


@pytest.mark.parametrize("value", [*HOSTILE, LONG, "", "plain words"])
def test_escape_makes_text_of_anything_and_unescape_gives_it_back(value: str) -> None:
    escaped = escape(value)
    assert "<" not in escaped and ">" not in escaped and not ENTITY.search(escaped)
    assert unescape(escaped) == value


def test_escape_escapes_entities_again_and_cuts_between_characters() -> None:
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape(12.5) == "12.5"
    cut = escape("<" * 100, 20)
    # Never half an entity: whole `&lt;` pieces, then the ellipsis.
    assert cut == "&lt;" * 4 + "…" and len(cut) <= 20
    assert escape("short", 20) == "short"
    assert len(escape(LONG, 2000)) <= 2000 and unescape(escape(LONG, 2000)).startswith(LONG[:100])


def test_links_zora_makes_from_outside_addresses() -> None:
    assert (
        link("https://dhl.example/t?a=1&b=2", "DHL <!here>") == "<https://dhl.example/t?a=1&amp;b=2|DHL &lt;!here&gt;>"
    )
    # An address cannot end the link early or add a label of its own.
    made = link("https://evil.example/x|<!channel> >", "label")
    assert made == "<https://evil.example/x%7C%3C!channel%3E%20%3E|label>"
    # Not http(s): the label alone, as text.
    assert link("javascript:alert(1)", "<!here>") == "&lt;!here&gt;"
    assert link(None, "x") == "x"
    assert clip("x" * 10, 5) == "xxxx…" and clip("abc", 5) == "abc"


def test_escape_and_clip_at_their_limits() -> None:
    # A text exactly at the limit is whole; one character more is cut to fit, ellipsis included.
    assert escape("abcd", 4) == "abcd" and escape("abcde", 4) == "abc…"
    assert escape("ab<", 6) == "ab&lt;" and escape("ab<c", 6) == "ab…"
    assert escape("abc", 1) == "…" and escape("abc", 0) == ""
    assert clip("abcd", 4) == "abcd" and clip("abcde", 4) == "abc…"
    assert clip("abc", 1) == "…" and clip("abc", 0) == ""


def test_links_take_http_too_and_need_a_host() -> None:
    assert link("http://shop.example/a", "track") == "<http://shop.example/a|track>"
    assert link("HTTPS://shop.example/a", "track") == "<HTTPS://shop.example/a|track>"
    assert link("http:///no-host", "track") == "track"
    assert link("http://[::1", "track") == "track"  # not a URL at all
    # The label is cut like any escaped text.
    assert link("https://shop.example/a", "a long label", limit=5) == "<https://shop.example/a|a lo…>"


def test_the_card_escapes_every_field_it_shows() -> None:
    """Also the locale (the widget refuses a hostile one, the card does not rely on that) and a
    very long everything: each field stays within Slack's limits."""
    for value in [*HOSTILE, LONG]:
        card = CardData(
            conversation_id=uuid.uuid4(),
            shop="shop.myshopify.com",
            status="open",
            assignee=None,
            settings=ShopSettings(),
            shopper_name=value,
            shopper_email=value,
            page=value,
            locale=value,
            customer={"tags": [value, value], "orders_count": value, "total_spent": value, "currency": value},
        )
        text, blocks = render(card)
        assert_markup_safe(text, "fallback")
        shown = check_blocks(blocks, "card")
        assert prefix(value) in shown and prefix(value) in unescape(text)


# ---------------------------------------------------------------- through the real path


async def test_message_bodies_reach_slack_as_text(zora: Zora) -> None:
    shopper = await zora.shopper()
    before = len(zora.standin.posted)
    bodies = [*HOSTILE, LONG[:4000]]
    for i, body in enumerate(bodies):
        assert (await shopper.call("message", {"client_id": f"b{i}", "body": body}))["ok"]
    posted = (await zora.standin.wait_for_posts(before + 1 + len(bodies)))[before + 1 : before + 1 + len(bodies)]
    for body, message in zip(bodies, posted, strict=True):
        assert_markup_safe(message["text"], repr(body))
        # Exactly the shopper's characters, as Slack shows them.
        assert message["text"] == escape(body) and unescape(message["text"]) == body
        assert len(message["text"]) <= 40_000


async def test_pre_chat_name_email_and_page_on_the_card(zora: Zora) -> None:
    names = [h for h in HOSTILE if len(h) <= 100] + [LONG[:99]]
    for name in names:
        # The widget takes only a plain address (zora/addresses.py): `<` and `>` never get in, but `&`,
        # `|`, `{`, `~`, `'` and `*` may, and those must be shown escaped too.
        local = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]", "", name)[:64] or "x"
        try:
            email = parse_address(f"{local}@evil.example")
        except InvalidAddress:
            email = "x@evil.example"
        page = "https://shop.example/p?q=" + re.sub(r"\s", "", name)
        card, message = await conversation(zora, name, {"name": name, "email": email}, page=page, locale="fr-CA")
        shown = check_message(card, f"card for {name!r}")
        assert prefix(name) in shown and prefix(email) in shown and prefix(page) in shown
        assert message["text"] == escape(name)
    # A page as long as the widget takes, full of entities to be: the card still fits.
    long_page = "https://shop.example/?" + ("&<!channel>" * 300)[:2020]
    card, _ = await conversation(zora, "hi", page=long_page)
    assert long_page[:60] in check_message(card, "card with a long page")


async def test_a_hostile_locale_is_refused_before_it_gets_near_slack(zora: Zora) -> None:
    shopper = await zora.shopper()
    for locale in ("<!channel>", "en<@U0AGENT001>", "fr&amp;"):
        ack = await shopper.call("message", {"client_id": "l1", "body": "x", "locale": locale})
        assert not ack["ok"] and ack["error"]["code"] == "invalid_payload"


async def upload(zora: Zora, token: str, name: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/png"}
    async with zora.http.post(
        f"{zora.base_url}/widget/files", params={"name": name}, data=png(), headers=headers
    ) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 201, body
        return str(body["file"]["id"])


async def test_file_names_as_file_titles_and_in_the_note_without_files_write(zora: Zora) -> None:
    names = [
        "<!channel>.png",
        "<https://evil.example|https://admin.shopify.com/x>.png",
        "&lt;b&gt; & <@U0AGENT001>.png",
    ]
    shopper = await zora.shopper()
    for i, name in enumerate(names):
        before_uploads = len(zora.standin.uploads)
        file_id = await upload(zora, shopper.token, name)
        assert (await shopper.call("message", {"client_id": f"f{i}", "body": "", "files": [file_id]}))["ok"]
        for _ in range(200):
            if len(zora.standin.uploads) > before_uploads:
                break
            await asyncio.sleep(0.05)
        uploaded = zora.standin.uploads[before_uploads]
        # A file's title and name are not message text: Slack shows them as they are.
        stored = (await zora.fetch("SELECT name FROM files WHERE id = $1::uuid", file_id))[0]["name"]
        assert uploaded["title"] == stored and uploaded["name"] == stored
        assert uploaded["initial_comment"] in (None, "")

    # Without the files:write scope the agents get a note naming the file: text, escaped.
    for i, name in enumerate(names):
        file_id = await upload(zora, shopper.token, name)
        stored = (await zora.fetch("SELECT name FROM files WHERE id = $1::uuid", file_id))[0]["name"]
        zora.standin.fail("files.getUploadURLExternal", "missing_scope")
        before = len(zora.standin.posted)
        assert (await shopper.call("message", {"client_id": f"g{i}", "body": "", "files": [file_id]}))["ok"]
        note = (await zora.standin.wait_for_posts(before + 1))[before]
        assert stored in unescape(note["text"]) and "files:write" in note["text"]
        assert_markup_safe(note["text"], f"file note {name!r}")


async def test_shopify_customer_fields_card_search_modal_and_app_home(zora: Zora) -> None:
    bad = "<!channel> & <https://evil.example|https://admin.shopify.com/x>"
    tags = ["zqhostile", "<!here>", "&lt;vip&gt;", "*gold*", "x" * 255]
    async with zora.services.pool.acquire() as conn:
        customer_id = await conn.fetchval(
            "INSERT INTO customers (shop_id, shopify_customer_id, name, email, phone, tags, note)"
            " VALUES ($1, 8001, $2, '<!channel>@evil.example', '<@U0AGENT001>', $3, $4) RETURNING id",
            zora.shop_id,
            bad,
            tags,
            "Note <!subteam^S123|@team> & more",
        )
        await conn.execute(
            "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name, order_number,"
            " financial_status, fulfillment_status, currency, total_price, current_total_price, processed_at,"
            " line_items, fulfillments)"
            " VALUES ($1, 9101, 8001, '#<!here>', 1101, 'paid', 'fulfilled', 'EUR', 10, 10, now(), '[]', $2)",
            zora.shop_id,
            [
                {
                    "tracking": [
                        {"company": "<!channel>", "number": "<@U0AGENT001>", "url": "https://t.example/x|<!here>"}
                    ]
                }
            ],
        )
    # A verified shopper whose card shows the Shopify record (name, address, tags, scores).
    session = await zora.session()
    async with zora.services.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO shoppers (id, shop_id, customer_id) VALUES ($1::uuid, $2, $3)",
            session["shopper_id"],
            zora.shop_id,
            customer_id,
        )
    # The token the app proxy issues to that signed-in customer carries the binding (cus).
    token = zora.bound_token(session, 8001)
    shopper = await zora.shopper(token)
    before = len(zora.standin.posted)
    assert (await shopper.send("where is my order?"))["ok"]
    card = (await zora.standin.wait_for_posts(before + 2))[before]
    shown = check_message(card, "verified card")
    assert bad in shown and "<!channel>@evil.example" in shown and "<!here>" in shown and "&lt;vip&gt;" in shown

    # The customer search, only the agent sees it.
    status, answer = await zora.standin.slash_command("/zora", "zqhostile", user=AGENT, channel=CHANNEL)
    assert status == 200 and isinstance(answer, dict)
    assert_markup_safe(answer["text"], "search fallback")
    shown = check_blocks(answer["blocks"], "search")
    assert bad in shown and "<@U0AGENT001>" in shown and "#<!here>" in shown and "<!channel> <@U0AGENT001>" in shown
    # The tracking link keeps its address, which cannot end the link or add a label.
    assert "<https://t.example/x%7C%3C!here%3E|&lt;!channel&gt; &lt;@U0AGENT001&gt;>" in json.dumps(answer["blocks"])
    # An agent's hostile query comes back as text too.
    status, answer = await zora.standin.slash_command("/zora", "<!channel> `x`", user=AGENT, channel=CHANNEL)
    assert status == 200 and "&lt;!channel&gt;" in json.dumps(answer["blocks"])
    assert_markup_safe(answer["text"], "search fallback, nothing found")
    check_blocks(answer["blocks"], "search with nothing found")

    # The edit modal: the name in plain_text, shown as it is (escaping there would show "&lt;").
    status, answer = await zora.standin.slash_command("/zora", "zqhostile", user=AGENT, channel=CHANNEL)
    button = next(b["accessory"] for b in answer["blocks"] if b.get("accessory"))
    views_before = set(zora.standin.views)
    assert await zora.standin.press_button(CHANNEL, None, button["action_id"], button["value"]) == 200
    (view_id,) = set(zora.standin.views) - views_before
    view = zora.standin.views[view_id]
    check_blocks(view["blocks"], "edit modal")
    plain = [text for kind, text, _ in mrkdwn_texts(view["blocks"]) if kind == "plain_text"]
    assert bad in plain
    inputs = {b["block_id"]: b["element"]["initial_value"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["note"] == "Note <!subteam^S123|@team> & more" and "<!here>" in inputs["tags"]

    # App Home lists the conversations by the shoppers' names: links whose labels are text.
    assert await zora.standin.open_app_home(AGENT) == 200
    home = zora.standin.home_views[AGENT]
    shown = check_blocks(home["blocks"], "App Home")
    assert "<!" in shown  # hostile names are listed, as text
    status, answer = await zora.standin.slash_command("/zora", "open", user=AGENT, channel=CHANNEL)
    check_blocks(answer["blocks"], "/zora open")


async def test_order_notices_and_agents_file_notes_are_text(zora: Zora) -> None:
    card, _ = await conversation(zora, "hello")
    # The order notice of a Shopify webhook (order name, carrier, tracking number are outside text).
    async with zora.services.pool.acquire() as conn:
        customer_id = await conn.fetchval(
            "INSERT INTO customers (shop_id, shopify_customer_id, name) VALUES ($1, 8002, 'N') RETURNING id",
            zora.shop_id,
        )
        await conn.execute(
            "UPDATE shoppers SET customer_id = $2 WHERE id = (SELECT shopper_id FROM conversations c"
            " JOIN slack_threads t ON t.conversation_id = c.id WHERE t.thread_ts = $1)",
            card["ts"],
            customer_id,
        )
    activities = ShopifyActivities(zora.services.pool, zora.services.temporal, zora.services.slack, zora.settings)
    text = ":shopping_bags: Order #<!channel> fulfilled: 1 item. Tracking: <!here> <https://evil.example|x>"
    before = len(zora.standin.posted)
    assert await activities.post_order_notice(OrderNotice(shop_id=zora.shop_id, shopify_customer_id=8002, text=text))
    notice = (await zora.standin.wait_for_posts(before + 1))[before]
    assert_markup_safe(notice["text"], "order notice")
    assert unescape(notice["text"]) == text

    # An agent shares a file Zora will not copy: the note names it as text.
    before = len(zora.standin.posted)
    status = await zora.standin.share_file(
        CHANNEL, card["ts"], "<!channel> & <@U0AGENT001>.exe", b"MZ\x90\x00", "application/x-msdownload", user=AGENT
    )
    assert status == 200
    note = next(m for m in await zora.standin.wait_for_posts(before + 1) if "Not sent" in m.get("text", ""))
    assert_markup_safe(note["text"], "refused file note")
    assert "<!channel> & <@U0AGENT001>.exe" in unescape(note["text"])

    # One that passes as a PNG until its bytes are copied (the worker's note about it).
    before = len(zora.standin.posted)
    status = await zora.standin.share_file(
        CHANNEL, card["ts"], "<!here> <@U0AGENT001> & x.png", b"not a png at all", "image/png", user=AGENT
    )
    assert status == 200
    for _ in range(400):
        notes = [m for m in zora.standin.posted[before:] if "Not sent" in m.get("text", "")]
        if notes:
            break
        await asyncio.sleep(0.05)
    assert notes, "no note about the file that was not copied"
    assert_markup_safe(notes[0]["text"], "file not copied note")
    assert "<!here> <@U0AGENT001> & x.png" in unescape(notes[0]["text"])


async def test_nothing_zora_sent_holds_outside_markup_and_the_dev_page_escapes_html(zora: Zora) -> None:
    """Runs last in this module: a sweep over every call Zora made to Slack above."""
    methods = [method for method, _ in zora.standin.calls]
    assert methods.count("chat.postMessage") > 30 and "chat.update" in methods and "views.open" in methods, (
        "run with the tests above: they make the calls this one sweeps"
    )
    sweep_everything_sent(zora)
    async with zora.http.get(zora.standin.inbox_url) as page:
        html = await page.text()
    assert "<script>alert(1)</script>" not in html and "<!channel>" not in html
    # It shows what Slack's client would: the shopper's characters, once (not "&lt;" as text).
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&amp;lt;script" not in html
    assert "fish &amp; chips &amp;amp; more" in html
