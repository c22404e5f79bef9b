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

# What bolt (its request context, authorization and self-event middleware) and Zora's middleware and
# listeners reach into, by kind: strings, objects, lists of objects, and string-or-object. One table for
# the top level of every request (an Events API envelope or an interactivity payload: bolt reads the
# same keys from both), one for an event.
_STRINGS = (
    "type",
    "token",
    "team_id",
    "enterprise_id",
    "user_id",
    "channel_id",
    "api_app_id",
    "event_id",
    "challenge",
    "event_context",
    "trigger_id",
    "response_url",
    "callback_id",
    "context_team_id",
    "context_enterprise_id",
    "function_execution_id",
    "bot_access_token",
    "app_installed_team_id",
)
_TOP = (
    _STRINGS,
    (
        "event",
        "team",
        "user",
        "channel",
        "view",
        "container",
        "message",
        "previous_message",
        "item",
        "function_data",
        "assistant_thread",
    ),
    ("authorizations", "actions"),
    (),
)
_EVENT = (
    ("type", "subtype", "ts", "thread_ts", "text", "bot_id", "event_ts", "tab", "channel_type", "client_msg_id",
     "deleted_ts", "item_user", "reaction", "parent_user_id", "user_team", "source_team",
     # bolt reads these from an event too, to authorize (an auth.test query) and to fill its context.
     "team_id", "enterprise_id", "user_id", "channel_id", "app_id", "api_app_id"),
    ("message", "previous_message", "item", "view", "root", "tokens", "bot_profile", "edited", "assistant_thread"),
    ("blocks", "attachments", "authorizations"),
    # An id in message events, an object in others (user_change, channel_created).
    ("user", "channel", "team"),
)  # fmt: skip
# An entry of `authorizations` (at the top or in an event): bolt reads its first entry for the request's
# workspace and organisation, recursively (an entry's own `authorizations` too).
_AUTHORIZATION = (
    ("team_id", "enterprise_id", "user_id"),
    (),
    ("authorizations",),
    ("team", "enterprise"),
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
        problem = _outline(data, "body", _TOP)
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
    return _outline(payload, "payload", _TOP)


def _outline(data: Any, where: str, rules: tuple[tuple[str, ...], ...]) -> str | None:
    if not isinstance(data, dict):
        return f"{where} must be a JSON object"
    strings, objects, lists, either = rules
    for key in strings:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"{where}.{key} must be a string"
    for key in objects:
        # An object or null (Slack sends `team`, `enterprise`, `channel` as null in some payloads), except
        # `event`: bolt reads it as `body.get("event", {}).get(...)`, which a null breaks.
        value = data.get(key)
        if key in data and not isinstance(value, dict) and (value is not None or key == "event"):
            return f"{where}.{key} must be an object"
    if "enterprise" in data and data["enterprise"] is not None and not isinstance(data["enterprise"], dict):
        return f"{where}.enterprise must be an object"
    for key in lists:
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, dict) for v in data[key])):
            return f"{where}.{key} must be a list of objects"
        if key == "authorizations" and data.get(key):
            # bolt reads the first entry only; the others are never read.
            problem = _outline(data[key][0], f"{where}.authorizations[0]", _AUTHORIZATION)
            if problem is not None:
                return problem
    for key in either:
        if key in data and not isinstance(data[key], (str, dict)):
            return f"{where}.{key} must be a string or an object"
    return None
