from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from zora.logs import conversation_id_var, setup_logging, setup_sentry


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def _use(buffer: io.StringIO, fmt: str) -> None:
    setup_logging(fmt, "INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)


def test_json_lines_carry_the_conversation_id(captured: io.StringIO) -> None:
    _use(captured, "json")
    token = conversation_id_var.set("c0ffee")
    try:
        logging.getLogger("zora.test").info("stored %d messages", 3, extra={"slack_ts": "1.2"})
    finally:
        conversation_id_var.reset(token)
    logging.getLogger("zora.test").warning("no conversation here")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "stored 3 messages" and first["conversation_id"] == "c0ffee"
    assert first["slack_ts"] == "1.2" and first["level"] == "info" and first["logger"] == "zora.test"
    assert "conversation_id" not in second


def test_text_lines_for_development(captured: io.StringIO) -> None:
    _use(captured, "text")
    token = conversation_id_var.set("c0ffee")
    try:
        logging.getLogger("zora.test").info("hello")
    finally:
        conversation_id_var.reset(token)
    line = captured.getvalue().strip()
    assert "INFO" in line and "zora.test: hello" in line and line.endswith("[conv c0ffee]")


def test_sentry_only_with_a_dsn() -> None:
    import sentry_sdk

    assert setup_sentry(None, "test") is False
    # Nothing that sends: no client, or (after another test reset it with init()) one with no DSN and
    # no transport.
    assert sentry_sdk.get_client().dsn is None and sentry_sdk.get_client().transport is None
    assert setup_sentry("https://public@127.0.0.1:9/1", "test") is True
    try:
        assert sentry_sdk.get_client().is_active()
        assert sentry_sdk.get_client().options["environment"] == "test"
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to a disabled client for the rest of the session
