"""Outbound HTTP: every session Zora opens to another service (Shopify, Slack) gets its timeouts here.

aiohttp's default is a 5-minute total and no connect limit of its own; slack_sdk's is 30 s. A peer that
accepts the connection and then stalls would hold an activity slot or a request until then. One place
sets the limits so no call site can forget them.
"""

from __future__ import annotations

from typing import Any

import aiohttp

# Connecting is quick or broken; a read that stalls this long is a stalled peer. The total leaves room
# for a large Admin API page.
OUTBOUND_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_connect=10, sock_read=30)
# slack_sdk takes one number: the whole call.
SLACK_TIMEOUT_SECONDS = 30


def client_session(**options: Any) -> aiohttp.ClientSession:
    """An aiohttp session with Zora's outbound timeouts (a caller may pass a stricter `timeout`)."""
    options.setdefault("timeout", OUTBOUND_TIMEOUT)
    return aiohttp.ClientSession(**options)
