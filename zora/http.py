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


def slack_session() -> aiohttp.ClientSession:
    """The one session a process's Slack clients share (zora/services.py opens and closes it).

    Without one, slack_sdk opens a session, and so a connection (against real Slack: a TLS
    handshake), for every call and closes it after. Kept-alive connections spare each post that;
    in the relay benchmark the per-call sessions were a good part of the web process's work
    (docs/benchmarks.md, "the opening burst"). No limit on connections, as before: a Slack call that hangs
    holds its connection until SLACK_TIMEOUT_SECONDS, and must not hold up the others."""
    return client_session(
        timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT_SECONDS), connector=aiohttp.TCPConnector(limit=0)
    )
