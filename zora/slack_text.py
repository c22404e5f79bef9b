"""Text that Zora sends to Slack.

Slack reads `text`, mrkdwn text objects and fallback text as markup: `<!channel>`, `<!here>`,
`<@U…>` and `<!subteam^…>` notify people, `<url|label>` shows a link under any label. A shopper
writes those strings as easily as anything else, and Shopify records (names, notes, tags,
addresses) are the shopper's words too. So every string Zora did not write itself goes through
`escape` before it joins Zora's own markup, and only there: `plain_text` objects (modal labels,
input values, button text, headers) are shown as they are, so they take the raw string (escaped,
an agent would read "&lt;").

Slack has no way to escape `*`, `_`, `~` or a backtick. Zora keeps outside strings out of its own
`*…*`, `_…_` and code spans instead, so a stray one can only format the outside string itself;
inside `<url|label>` an escaped label cannot end the link, since it holds no `>`.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

ELLIPSIS = "…"

# Slack's documented limits that Zora's messages meet (longer text is refused: invalid_blocks).
SECTION_TEXT_MAX = 3000
CONTEXT_TEXT_MAX = 2000

# What would end or split `<url|label>` in a link's address: percent-encoded (the page is the same).
_URL_BREAKERS = re.compile(r"[\s\x00-\x1f\x7f<>|]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(value: object, limit: int | None = None) -> str:
    """`value` as text Slack shows literally: `&`, `<` and `>` become `&amp;`, `&lt;`, `&gt;`.

    Text that already holds entities is escaped again: a shopper who typed `&lt;` sees `&lt;` in
    Slack, not `<`. With `limit`, the result is at most that many characters: the original is cut
    short (ending with …) between characters, never inside an entity.
    """
    text = str(value)
    escaped = "".join(_ENTITIES.get(ch, ch) for ch in text)
    if limit is None or len(escaped) <= limit:
        return escaped
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    room = limit - len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _ENTITIES.get(ch, ch)
        if used + len(piece) > room:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def unescape(text: str) -> str:
    """What Slack shows for escaped text: the inverse of `escape` (without its `limit`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    """A raw string cut to `limit` characters (with …), for plain_text objects and their limits."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS[:limit]


def link(url: str | None, label: str, limit: int | None = None) -> str:
    """Zora's own link `<url|label>` to an address that came from outside (a carrier's tracking
    page): only http(s), with the characters that would end the address (`|`, `>`, spaces)
    percent-encoded and the label escaped. Anything else is the label alone, as text."""
    shown = escape(label, limit)
    if not url:
        return shown
    try:
        parts = urlsplit(url)
    except ValueError:
        return shown
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return shown
    target = _URL_BREAKERS.sub(lambda m: quote(m.group(), safe=""), url).replace("&", "&amp;")
    return f"<{target}|{shown}>"
