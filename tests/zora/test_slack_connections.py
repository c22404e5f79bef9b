"""A process's Slack calls share kept-alive connections (zora.http.slack_session): without a session of its
own, slack_sdk opens a connection (against real Slack, a TLS handshake) for every call."""

from __future__ import annotations

from tests.harness import Zora
from zora.http import slack_session
from zora.slack_api import SlackGateway, SlackInstallation, SlackWorkspaces


async def _ports_of_three_calls(zora: Zora, gateway: SlackGateway) -> set[int]:
    before = len(zora.standin.call_peers)
    for _ in range(3):
        await gateway.auth_test()
    peers = zora.standin.call_peers[before:]
    assert len(peers) == 3 and all(peers)
    return {peer[1] for peer in peers}


async def test_calls_reuse_one_connection_through_the_shared_session(zora: Zora) -> None:
    session = slack_session()
    try:
        gateway = SlackGateway.from_settings(zora.settings, session=session)
        assert len(await _ports_of_three_calls(zora, gateway)) == 1
    finally:
        await session.close()
    # What the session spares: a connection per call.
    alone = SlackGateway.from_settings(zora.settings)
    assert len(await _ports_of_three_calls(zora, alone)) == 3


async def test_the_services_and_every_workspace_share_the_process_session(zora: Zora) -> None:
    svc = zora.services
    assert svc.slack.client.session is not None and not svc.slack.client.session.closed
    assert len(await _ports_of_three_calls(zora, svc.slack)) == 1
    workspaces = SlackWorkspaces(svc.slack, svc.pool, svc.settings)
    other = workspaces._gateway(SlackInstallation(team_id="T0OTHER", bot_token=None))
    assert other.client.session is svc.slack.client.session
