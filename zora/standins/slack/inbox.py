"""The ``/dev/slack`` page: a person plays the agent in ``zora dev``, reading the threads, replying,
sharing files and pressing the bot's buttons."""

from __future__ import annotations

import html
from collections.abc import Awaitable
from typing import Any, NoReturn
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from zora.slack_text import unescape
from zora.standins.slack.chat import Chat
from zora.standins.slack.files import Files, guess_mimetype
from zora.standins.slack.interactivity import Interactivity
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, StandInError, User, ts_key


def _texts_in(value: Any) -> list[str]:
    """Every human-readable string inside Block Kit JSON, in document order (for the inbox page)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_texts_in(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_texts_in(item))
    return found


async def _same_site_form(request: web.Request) -> Any:
    """The inbox page's form. Loopback only, but a page on another origin could still post it: refused."""
    origin = request.headers.get("Origin")
    if origin not in (None, "null") and URL(origin).host != request.url.host:
        raise web.HTTPForbidden(text="cross-origin form post refused")
    return await request.post()


class Inbox(Chat, Files, Interactivity):
    """The inbox page's routes: what a person playing the agent sees and does."""

    def _author(self, message: dict[str, Any]) -> tuple[str, str]:
        """Display name and CSS class of a message's sender."""
        user = self._users.get(str(message.get("user", "")))
        if message.get("bot_id") == self.bot_id or (user is not None and user.is_bot):
            name = message.get("username") or (user.display_name if user else "bot")
            return f"{name} (bot)", "bot"
        if user is None:
            return str(message.get("user", "unknown")), "agent"
        return user.display_name, "agent"

    def _render_message(self, message: dict[str, Any]) -> str:
        name, css = self._author(message)
        # As Slack's client shows it: its three entities read as the characters they stand for.
        body = html.escape(unescape(message.get("text", "")))
        extra = ""
        if message.get("blocks") and message.get("bot_id"):
            lines = "\n".join(html.escape(unescape(text)) for text in _texts_in(message["blocks"]))
            extra = f"<details><summary>blocks</summary><pre>{lines}</pre></details>"
        edited = " <em>(edited)</em>" if "edited" in message else ""
        reactions = " ".join(f":{html.escape(r['name'])}:" for r in message.get("reactions", []))
        files = "".join(
            f'<div class="file"><a href="/dev/slack/files/{quote(str(f.get("id", "")))}" target="_blank">'
            f"&#128206; {html.escape(str(f.get('name', 'file')))}</a> <small>{int(f.get('size') or 0)} bytes</small></div>"
            for f in message.get("files") or []
        )
        return (
            f'<div class="msg {css}"><span class="who">{html.escape(name)}</span> '
            f'<span class="ts">{html.escape(message["ts"])}</span>{edited}'
            f'<div class="text">{body}</div>{files}{extra}{self._render_buttons(message)}'
            f"{f'<div class=ts>{reactions}</div>' if reactions else ''}</div>"
        )

    def _render_buttons(self, message: dict[str, Any]) -> str:
        """A bot message's buttons, each a form that presses it (as the agent chosen below)."""
        if not message.get("bot_id"):
            return ""
        forms = []
        for block in message.get("blocks") or []:
            if not isinstance(block, dict) or block.get("type") != "actions":
                continue
            for element in block.get("elements") or []:
                if element.get("type") != "button":
                    continue
                forms.append(
                    '<form method="post" action="/dev/slack/press" style="display:inline">'
                    f'<input type="hidden" name="channel" value="{html.escape(message["channel"], quote=True)}">'
                    f'<input type="hidden" name="ts" value="{html.escape(message["ts"], quote=True)}">'
                    f'<input type="hidden" name="action_id" value="{html.escape(str(element.get("action_id", "")), quote=True)}">'
                    f'<input type="hidden" name="value" value="{html.escape(str(element.get("value", "")), quote=True)}">'
                    f"<button>{html.escape(str((element.get('text') or {}).get('text', 'button')))}</button></form> "
                )
        return f'<div class="actions">{"".join(forms)}</div>' if forms else ""

    def _render_thread(self, channel: str, root: dict[str, Any], agents: list[User]) -> str:
        messages = self.thread(channel, root["ts"])
        rendered = "".join(self._render_message(message) for message in messages)
        options = "".join(
            f'<option value="{html.escape(user.id, quote=True)}">{html.escape(user.display_name)}</option>'
            for user in agents
        )
        anchor = html.escape(f"{channel}-{root['ts']}", quote=True)
        return (
            f'<section class="thread" id="{anchor}">{rendered}'
            '<form method="post" action="/dev/slack/reply" enctype="multipart/form-data">'
            f'<input type="hidden" name="channel" value="{html.escape(channel, quote=True)}">'
            f'<input type="hidden" name="thread_ts" value="{html.escape(root["ts"], quote=True)}">'
            f'<select name="user">{options}</select> '
            '<textarea name="text" rows="2" placeholder="Reply as the agent"></textarea> '
            '<input type="file" name="file" aria-label="Share a file"> '
            "<button>Reply in thread</button></form></section>"
        )

    async def _handle_inbox(self, request: web.Request) -> web.Response:
        agents = [user for user in self._users.values() if not user.is_bot]
        agents.sort(key=lambda user: user.id != DEFAULT_AGENT_ID)
        sections: list[str] = []
        for channel in self._channels.values():
            messages = self._messages.get(channel.id, {})
            roots = [m for m in messages.values() if m.get("thread_ts", m["ts"]) == m["ts"]]
            # Newest conversation first: that is the one the person playing the agent is waiting on.
            roots.sort(key=lambda m: ts_key(m["ts"]), reverse=True)
            threads = "".join(self._render_thread(channel.id, root, agents) for root in roots)
            sections.append(
                f"<h2>#{html.escape(channel.name)} <small>{html.escape(channel.id)}</small></h2>"
                + (threads or "<p><em>No threads yet.</em></p>")
            )
        error = request.query.get("error")
        banner = f'<p class="error">{html.escape(error)}</p>' if error else ""
        page = _INBOX_PAGE.format(
            team=html.escape(self.team_name),
            banner=banner,
            body="".join(sections) or "<p><em>No channels.</em></p>",
        )
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _handle_inbox_reply(self, request: web.Request) -> web.Response:
        form = await _same_site_form(request)
        channel = str(form.get("channel", ""))
        thread_ts = str(form.get("thread_ts", ""))
        text = str(form.get("text", "")).strip()
        user = str(form.get("user", "") or DEFAULT_AGENT_ID)
        upload = form.get("file")
        if isinstance(upload, web.FileField) and upload.filename:
            content = upload.file.read()
            sending = self.share_file(
                channel, thread_ts, upload.filename, content, guess_mimetype(content), text, user=user
            )
        elif text:
            sending = self.agent_reply(channel, thread_ts, text, user=user)
        else:
            raise web.HTTPSeeOther(f"/dev/slack#{quote(f'{channel}-{thread_ts}')}")
        await _back_to_inbox(sending, f"{channel}-{thread_ts}", "Reply", "the event")

    async def _handle_inbox_press(self, request: web.Request) -> web.Response:
        form = await _same_site_form(request)
        channel, ts = str(form.get("channel", "")), str(form.get("ts", ""))
        pressing = self.press_button(
            channel, ts, str(form.get("action_id", "")), str(form.get("value", "")), DEFAULT_AGENT_ID
        )
        await _back_to_inbox(pressing, f"{channel}-{ts}", "Button press", "the button")

    async def _handle_inbox_file(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["file_id"])
        if found is None or found.get("content") is None or "mimetype" not in found:
            return web.Response(status=404, text="file not found")
        return web.Response(
            body=found["content"],
            content_type=found["mimetype"],
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )


async def _back_to_inbox(sending: Awaitable[int], anchor: str, what: str, answered_to: str) -> NoReturn:
    """Send, then back to the inbox at `anchor`; a banner says so when Zora did not take it."""
    location = f"/dev/slack#{quote(anchor)}"
    try:
        status = await sending
    except (StandInError, aiohttp.ClientError, TimeoutError) as exc:
        location = f"/dev/slack?error={quote(f'{what} not delivered: {exc}')}"
    else:
        if status >= 300:
            location = f"/dev/slack?error={quote(f'Zora answered HTTP {status} to {answered_to}')}"
    raise web.HTTPSeeOther(location)


_INBOX_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slack stand-in: {team}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 56rem; }}
.thread {{ border: 1px solid #ccc; border-radius: 6px; padding: .6rem; margin: .8rem 0; }}
.msg {{ margin: .3rem 0; padding: .3rem .5rem; border-radius: 4px; }}
.msg.bot {{ background: #eef3ff; }} .msg.agent {{ background: #effaf0; margin-left: 1.5rem; }}
.who {{ font-weight: 600; }} .ts {{ color: #888; font-size: .8em; }}
.text {{ white-space: pre-wrap; }} .error {{ color: #b00; font-weight: 600; }}
textarea {{ width: 60%; vertical-align: middle; }} small {{ color: #888; font-weight: normal; }}
</style></head>
<body><h1>Slack stand-in <small>{team}</small></h1>
<p>You are the agent: reply in a thread and Zora receives it as a Slack event.</p>
{banner}{body}
<script>
// Reload for new messages, but never while someone is typing a reply.
setInterval(function () {{
  var busy = Array.prototype.some.call(document.querySelectorAll("textarea, input[type=file]"), function (t) {{
    return t.value !== "" || t === document.activeElement;
  }});
  if (!busy) {{ location.reload(); }}
}}, 3000);
</script></body></html>
"""
