"""The outline of a Slack request, checked before bolt sees it.

Bolt assumes Slack's shapes: given an `event` that is not an object, or an interactivity `payload`
that decodes to a list, its own request parsing and middleware raise, and the request ends as a 500
(which Slack would retry). Only someone holding the signing secret can send such a body, but every
door answers bad input with a 4xx and a reason (tests/security/test_fuzzing.py), so the outline is
checked here and anything else is refused with 400. What a listener reads beyond the outline, it
checks itself.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

# What bolt and Zora's middleware and listeners reach into, by kind: (strings, objects, lists of objects).
_ENVELOPE = (
    ("type", "token", "team_id", "api_app_id", "event_id", "enterprise_id", "challenge", "event_context"),
    ("event",),
    ("authorizations",),
)
_EVENT = (
    ("type", "subtype", "user", "channel", "team", "ts", "thread_ts", "text", "bot_id", "event_ts", "tab",
     "channel_type", "client_msg_id", "deleted_ts", "item_user", "reaction", "parent_user_id"),
    ("message", "previous_message", "item", "view", "root", "tokens", "bot_profile", "edited"),
    ("blocks", "attachments"),
)  # fmt: skip
_PAYLOAD = (
    ("type", "trigger_id", "response_url", "api_app_id", "token", "callback_id"),
    ("team", "user", "channel", "container", "view", "enterprise", "message"),
    ("actions", "authorizations"),
)


def malformed(body: bytes, content_type: str) -> str | None:
    """Why this body is not a Slack request bolt can take, or None when its outline is sound."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if content_type.startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            return "the body is not JSON"
        problem = _outline(data, "body", _ENVELOPE)
        if problem is None and isinstance(data.get("event"), dict):
            problem = _outline(data["event"], "event", _EVENT)
            # A list, whatever its entries: the message listener names malformed file entries to the
            # agent and the shopper (tests/bot/test_agent_files.py).
            if problem is None and "files" in data["event"] and not isinstance(data["event"]["files"], list):
                problem = "event.files must be a list"
        return problem
    form = parse_qs(text, keep_blank_values=True)
    if "payload" not in form:
        # A slash command: form fields are strings, as bolt expects; these are what every command has.
        missing = [key for key in ("command", "team_id", "user_id", "channel_id") if not form.get(key, [""])[0]]
        return f"a slash command needs {', '.join(missing)}" if missing else None
    try:
        payload = json.loads(form["payload"][0])
    except ValueError:
        return "payload is not JSON"
    return _outline(payload, "payload", _PAYLOAD)


def _outline(data: Any, where: str, rules: tuple[tuple[str, ...], ...]) -> str | None:
    if not isinstance(data, dict):
        return f"{where} must be a JSON object"
    strings, objects, lists = rules
    for key in strings:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{where}.{key} must be a string"
    for key in objects:
        # Present means an object: bolt reads these as `body.get(key, {}).get(...)`, which a null breaks.
        # Slack sends an Enterprise Grid-less `enterprise` as null.
        if key in data and not isinstance(data[key], dict) and not (key == "enterprise" and data[key] is None):
            return f"{where}.{key} must be an object"
    for key in lists:
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, dict) for v in data[key])):
            return f"{where}.{key} must be a list of objects"
    return None
