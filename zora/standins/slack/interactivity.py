"""A person acting on the app: a slash command, a button of a bot message."""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any
from urllib.parse import quote

from zora.standins.slack.delivery import VERIFICATION_TOKEN, Delivery, form_payload
from zora.standins.slack.workspace import DEFAULT_AGENT_ID, StandInError


class Interactivity(Delivery):
    """People's slash commands and button presses, delivered to Zora."""

    async def slash_command(
        self, command: str, text: str, user: str = DEFAULT_AGENT_ID, channel: str = ""
    ) -> tuple[int, Any]:
        """An agent types `/command text`: the signed form-encoded delivery Slack sends; returns
        Zora's status and its immediate (ephemeral) answer."""
        if self.events_url is None or self._session is None:
            raise StandInError("the stand-in must be running with events_url set to deliver commands")
        channel_name = self._channels[channel].name if channel in self._channels else "directmessage"
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "zora-standin",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": self._users[user].name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": f"{self._require_origin()}/dev/slack/response/{secrets.token_hex(8)}",
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }
        raw = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()
        return await self._post_form(raw)

    async def press_button(
        self, channel: str, message_ts: str | None, action_id: str, value: str, user: str = DEFAULT_AGENT_ID
    ) -> int:
        """An agent presses a button of a bot message: a signed block_actions delivery (form-encoded
        ``payload=`` as Slack sends interactivity), posted to ``events_url``; returns Zora's status."""
        if (self.events_url is None and not self._sockets) or self._session is None:
            raise StandInError("the stand-in must be running with events_url set or a Socket Mode client")
        # None: a button in an ephemeral message (only its viewer has it; Slack sends no message body).
        message = None if message_ts is None else self._messages.get(channel, {}).get(message_ts)
        if message_ts is not None and message is None:
            raise StandInError(f"no message {message_ts} in {channel}")
        ephemeral_ts = message_ts or self._next_ts(channel)
        payload = {
            **self._interaction("block_actions", user),
            "container": {
                "type": "message",
                "message_ts": ephemeral_ts,
                "channel_id": channel,
                "is_ephemeral": message is None,
            },
            "channel": {"id": channel, "name": self._channels[channel].name},
            **({"message": copy.deepcopy(message)} if message is not None else {}),
            "response_url": f"{self._require_origin()}/dev/slack/response/{secrets.token_hex(8)}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": secrets.token_hex(3),
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if self.events_url is None:
            return await self._deliver_over_socket("interactive", payload, 0, "")
        status, _ = await self._post_form(form_payload(payload))
        return status
