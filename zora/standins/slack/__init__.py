"""A Slack stand-in on loopback: the Web API and Events API as Slack speaks them.

Zora talks to it through the real ``slack_sdk`` client (``base_url``) and receives signed
``event_callback`` deliveries from it, so the code under test cannot tell it from Slack for the
methods modelled here. Response and event shapes follow the provider-published examples in
``../shared/fixtures/slack`` (see that folder's ``SOURCES.md``). The ``/dev/slack`` page lets a person
play the agent in ``zora dev``.

Channel membership is modelled for ``conversations.members``: a new channel holds the bot and the
default agent (the person playing the agent in ``zora dev``); tests change it with
:meth:`SlackStandIn.set_channel_members`, and user groups with :meth:`SlackStandIn.set_usergroup`.
Deliberately not modelled: private channels, Slack's own
per-channel pacing (use :meth:`SlackStandIn.rate_limit`), automatic redelivery after a failed event
(use ``deliver_event(..., retry_num=...)``), and message events for the bot's own posts.

One module per Slack API family, each a mixin over :class:`~zora.standins.slack.workspace.Workspace`
(the shared state) that :class:`SlackStandIn` (``standin.py``) assembles:

- ``workspace.py``: users, channels, messages, test controls, the message store, lifecycle
- ``webapi.py``: reading a Web API call, its token, queued failures (``rate_limit``, ``fail``, ...)
- ``delivery.py``: signed event and interactivity posts to Zora, Socket Mode
- ``chat.py``, ``conversations.py``, ``files.py``, ``reactions.py``, ``users.py``, ``views.py``: the Web API
  methods of each family, and the people's actions that belong to it (replying, sharing a file, reacting)
- ``interactivity.py``: slash commands and button presses
- ``inbox.py``: the ``/dev/slack`` page
"""

from __future__ import annotations

from zora.standins.slack.standin import SlackStandIn
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, SCOPES, StandInError

__all__ = ["DEFAULT_AGENT_ID", "SCOPES", "SlackStandIn", "StandInError"]
