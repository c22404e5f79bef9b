"""The one reading of Slack's errors, and the gateway's installation (zora/slack_api.py)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.slack_response import SlackResponse

from zora.settings import Settings
from zora.slack_api import SlackFailure, SlackGateway, SlackInstallation, SlackWorkspaces, classify, hint
from zora.standins.slack import SlackStandIn


def _error(error: str | None, status: int = 200, headers: dict[str, str] | None = None) -> SlackApiError:
    data: dict[str, Any] = {"ok": False}
    if error is not None:
        data["error"] = error
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError(error or "failed", response)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("invalid_auth", "install"),
        ("not_authed", "install"),
        ("account_inactive", "install"),
        ("token_revoked", "install"),
        ("missing_scope", "install"),
        ("channel_not_found", "channel"),
        ("not_in_channel", "channel"),
        ("is_archived", "channel"),
        ("no_channel_configured", "channel"),
        ("thread_not_found", "gone"),
        ("message_not_found", "gone"),
        ("file_not_found", "gone"),
        ("file_deleted", "gone"),
        ("internal_error", "retryable"),
        ("fatal_error", "retryable"),
        ("already_reacted", "retryable"),
    ],
)
def test_each_error_has_one_kind(error: str, kind: str) -> None:
    failure = classify(_error(error))
    assert failure == SlackFailure(error=error, kind=kind)  # type: ignore[arg-type]
    # Only a broken installation or channel waits for a person; the rest is the caller's to retry.
    assert failure.needs_a_person == (kind in ("install", "channel"))
    assert not failure.rate_limited


def test_a_429_is_rate_limited_whatever_its_error_says() -> None:
    failure = classify(_error("channel_not_found", 429, {"Retry-After": "42"}))
    assert failure.rate_limited and not failure.needs_a_person
    assert failure.retry_after == 42 and failure.wait(1) == 42
    # No Retry-After: each caller keeps its own default wait.
    bare = classify(_error("ratelimited", 429))
    assert bare.rate_limited and bare.retry_after is None
    assert bare.wait(1) == 1 and bare.wait(60) == 60
    assert classify(_error("ratelimited", 429, {"retry-after": "3"})).retry_after == 3
    assert classify(_error("ratelimited", 429, {"Retry-After": "soon"})).retry_after is None


def test_an_answer_without_an_error_code_is_retried() -> None:
    failure = classify(_error(None, 500))
    assert failure.error == "unknown_error" and failure.kind == "retryable"


def test_the_hint_doctor_shows() -> None:
    assert hint("not_in_channel").startswith("invite the bot: /invite @Zora in the channel;")
    assert "SLACK_BOT_TOKEN" in classify(_error("invalid_auth")).hint
    assert hint("something_new").startswith("see docs/operations.md, 'When Slack fails'")
    for error in ("channel_not_found", "is_archived", "token_revoked", "something_new"):
        assert hint(error).endswith("; waiting messages are delivered, in order, within a minute of the fix")


def test_every_gateway_method_is_the_slack_method_of_that_name() -> None:
    """The gateway adds no method of its own to Slack's: each call is Slack's, as the stand-in knows it."""
    own = {"team_id", "from_settings", "proxy", "ssl"}
    for name, member in inspect.getmembers(SlackGateway):
        if name.startswith("_") or name in own:
            continue
        assert inspect.iscoroutinefunction(member), name
        assert callable(getattr(AsyncWebClient, name, None)), f"{name} is not a Slack Web API method"


async def test_the_installation_gives_the_token_and_the_team_once() -> None:
    standin = SlackStandIn(bot_token="xoxb-gw", signing_secret="s")
    await standin.start()
    try:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, slack_bot_token=SecretStr("xoxb-gw"), slack_api_url=standin.base_url
        )
        gateway = SlackGateway.from_settings(settings)
        assert gateway.installation == SlackInstallation(team_id=None, bot_token=SecretStr("xoxb-gw"))
        assert gateway.installation.token() == "xoxb-gw"
        team = (await gateway.auth_test())["team_id"]
        assert await gateway.team_id() == team
        # A known team is not asked of Slack: a wrong token would fail auth.test.
        known = SlackGateway.from_settings(settings, SlackInstallation(team_id="T0KNOWN", bot_token=SecretStr("no")))
        assert await known.team_id() == "T0KNOWN"
        with pytest.raises(SlackApiError) as refused:
            await known.auth_test()
        assert classify(refused.value).kind == "install"
        # One workspace today: every shop's gateway is it.
        workspaces = SlackWorkspaces(gateway)
        assert await workspaces.for_shop(1) is gateway and await workspaces.for_shop(2) is gateway
    finally:
        await standin.stop()
