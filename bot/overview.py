"""Lists of conversations for agents: open, unassigned, mine — for `/zora` and the App Home."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from zora.slack_text import SECTION_TEXT_MAX, escape, link

Which = Literal["open", "unassigned", "mine"]
LIST_LIMIT = 10

_FILTER = {
    "open": "c.status IN ('open', 'assigned')",
    "unassigned": "c.status = 'open' AND c.assignee IS NULL",
    "mine": "c.status IN ('open', 'assigned') AND c.assignee = $2",
}
_TITLE = {"open": "Open conversations", "unassigned": "Unassigned", "mine": "Assigned to you"}


@dataclass
class Row:
    shop: str
    who: str
    status: str
    assignee: str | None
    channel: str
    thread_ts: str
    updated_at: datetime


def thread_link(channel: str, thread_ts: str) -> str:
    # Slack resolves archive links for any workspace member; the ts without its dot names the message.
    return f"https://slack.com/archives/{channel}/p{thread_ts.replace('.', '')}"


async def conversations(
    pool: Any, team_id: str, user_id: str, which: Which, shop_ids: Sequence[int]
) -> tuple[int, list[Row]]:
    """(how many in all, the most recently active ones) among these shops' conversations in this
    workspace: the shops the asking agent may see (bot/access.py), never the whole workspace's."""
    if not shop_ids:
        return 0, []
    where = _FILTER[which]
    args: list[Any] = [team_id] + ([user_id] if which == "mine" else [])
    args.append(list(shop_ids))
    base = (
        " FROM conversations c JOIN slack_threads t ON t.conversation_id = c.id JOIN shops s ON s.id = c.shop_id"
        " JOIN shoppers p ON p.id = c.shopper_id"
        f" WHERE t.team_id = $1 AND {where} AND c.shop_id = ANY(${len(args)}::bigint[])"
    )
    async with pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*)" + base, *args)
        rows = await conn.fetch(
            "SELECT s.domain, COALESCE(p.name, p.email, 'a shopper') AS who, c.status, c.assignee,"
            " t.channel_id, t.thread_ts, c.updated_at" + base + f" ORDER BY c.updated_at DESC LIMIT {LIST_LIMIT}",
            *args,
        )
    return int(total), [
        Row(r["domain"], r["who"], r["status"], r["assignee"], r["channel_id"], r["thread_ts"], r["updated_at"])
        for r in rows
    ]


# Room for a shopper's name in a list line (escaped length): ten lines fit Slack's section limit.
_WHO_MAX = 120


def render_list(which: Which, total: int, rows: list[Row]) -> list[dict[str, Any]]:
    title = f"*{_TITLE[which]}* ({total})"
    if not rows:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\nNone right now."}}]
    lines = []
    for row in rows:
        who = f"<@{row.assignee}>" if row.assignee else "unassigned"
        # The shopper's name (or address) is the link's label: escaped, it cannot end the link.
        lines.append(
            f"• {link(thread_link(row.channel, row.thread_ts), row.who, _WHO_MAX)} on {escape(row.shop)}"
            f" · {escape(row.status)} · {who}"
            f" · last message <!date^{int(row.updated_at.timestamp())}^{{date_short_pretty}} {{time}}|"
            f"{row.updated_at:%Y-%m-%d %H:%M} UTC>"
        )
    more = f"\n…and {total - len(rows)} more" if total > len(rows) else ""
    return _sections([title, *lines], more)


def _sections(lines: list[str], tail: str) -> list[dict[str, Any]]:
    """The lines in as few sections as Slack's length limit allows (one, unless names are long)."""
    texts: list[str] = []
    for line in lines:
        if texts and len(texts[-1]) + 1 + len(line) <= SECTION_TEXT_MAX:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    if len(texts[-1]) + len(tail) <= SECTION_TEXT_MAX:
        texts[-1] += tail
    elif tail:
        texts.append(tail.lstrip("\n"))
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in texts]
