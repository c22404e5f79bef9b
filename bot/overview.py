"""Lists of conversations for agents: open, unassigned, mine — for `/zora` and the App Home."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from zora.db import Pool
from zora.slack_text import SECTION_TEXT_MAX, escape, link
from zora.store.conversations import Listed, agent_list

Which = Literal["open", "unassigned", "mine"]
LIST_LIMIT = 10

_TITLE = {"open": "Open conversations", "unassigned": "Unassigned", "mine": "Assigned to you"}


# A conversation in a list.
Row = Listed


def thread_link(channel: str, thread_ts: str) -> str:
    # Slack resolves archive links for any workspace member; the ts without its dot names the message.
    return f"https://slack.com/archives/{channel}/p{thread_ts.replace('.', '')}"


async def conversations(
    pool: Pool, team_id: str, user_id: str, which: Which, shop_ids: Sequence[int]
) -> tuple[int, list[Row]]:
    """(how many in all, the most recently active ones) among these shops' conversations in this
    workspace: the shops the asking agent may see (bot/access.py), never the whole workspace's."""
    if not shop_ids:
        return 0, []
    async with pool.acquire() as conn:
        return await agent_list(conn, team_id, user_id, which, list(shop_ids), LIST_LIMIT)


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
