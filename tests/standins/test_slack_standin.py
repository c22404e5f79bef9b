"""The Slack stand-in, driven through the real slack_sdk client and checked against Slack's published examples."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.helpers import slack_standin
from zora.standins.slack import DEFAULT_AGENT_ID, SlackStandIn, StandInError

TOKEN = "xoxb-standin-test-token"
SECRET = "standin-test-signing-secret"
CHANNEL = "C0SUPPORT1"
BOT_USER = "U0ZORABOT1"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
NO_FIXTURES = "../shared/fixtures not present (a newcomer's clone)"


def _fixture(name: str) -> dict[str, Any]:
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    data: dict[str, Any] = json.loads((FIXTURES / "slack" / name).read_text())
    return data


class Receiver:
    """Zora's side of the Events API: records each delivery and checks its signature like bolt does."""

    def __init__(self) -> None:
        self.deliveries: asyncio.Queue[tuple[dict[str, str], dict[str, Any], bool]] = asyncio.Queue()
        self.status = 200
        # When set, deliveries are held until it is set: a Zora that is slow to answer.
        self.hold: asyncio.Event | None = None
        self.verifier = SignatureVerifier(SECRET)
        self.app = web.Application()
        self.app.router.add_post("/slack/events", self._handle)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/slack/events"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        valid = self.verifier.is_valid_request(body, headers)
        await self.deliveries.put((headers, json.loads(body), valid))
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status)

    async def next(self) -> tuple[dict[str, str], dict[str, Any], bool]:
        async with asyncio.timeout(5):
            return await self.deliveries.get()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.start()
    try:
        yield rec
    finally:
        await rec.runner.cleanup()


@pytest.fixture
async def standin(receiver: Receiver) -> AsyncIterator[SlackStandIn]:
    async with slack_standin(TOKEN, CHANNEL, signing_secret=SECRET, events_url=receiver.url) as slack:
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.base_url)


async def _api_error(call: Awaitable[Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# ---------------------------------------------------------------- Web API through slack_sdk


async def test_auth_test_answers_as_the_bot(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.auth_test()

    assert resp["ok"] is True
    assert resp["user_id"] == BOT_USER
    assert resp["bot_id"] == "B0ZORABOT1"
    assert resp["team_id"] == "T0ZORA0001"
    assert resp["is_enterprise_install"] is False
    # bolt takes the bot's scopes from this header.
    assert "chat:write" in resp.headers["x-oauth-scopes"]


async def test_auth_test_with_a_wrong_token_is_invalid_auth(standin: SlackStandIn) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=standin.base_url)

    err = await _api_error(bad.auth_test())

    assert err.response["error"] == "invalid_auth"
    assert err.response.status_code == 200


async def test_missing_token_is_not_authed_and_a_token_param_is_accepted(standin: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(standin.base_url + "auth.test") as resp:
            assert resp.status == 200
            assert await resp.json() == {"ok": False, "error": "not_authed"}
        async with http.post(standin.base_url + "auth.test", data={"token": TOKEN}) as resp:
            assert (await resp.json())["ok"] is True


async def test_unknown_method(client: AsyncWebClient) -> None:
    err = await _api_error(client.api_call("chat.frobnicate"))

    assert err.response["error"] == "unknown_method"


async def test_post_message_starts_a_thread_and_replies_carry_thread_ts(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="New conversation")
    first = await client.chat_postMessage(channel=CHANNEL, text="hello", thread_ts=root["ts"])
    second = await client.chat_postMessage(channel=CHANNEL, text="again", thread_ts=root["ts"])

    assert root["channel"] == CHANNEL
    assert "thread_ts" not in root["message"]
    assert first["message"]["thread_ts"] == root["ts"]
    assert first["message"]["parent_user_id"] == BOT_USER
    tss = [root["ts"], first["ts"], second["ts"]]
    assert len(set(tss)) == 3
    assert tss == sorted(tss, key=lambda ts: tuple(int(part) for part in ts.split(".")))
    assert all(len(ts.split(".")[1]) == 6 for ts in tss)

    assert [p["text"] for p in standin.posted] == ["New conversation", "hello", "again"]
    assert standin.posted[0]["thread_ts"] is None
    assert standin.posted[2]["channel"] == CHANNEL
    thread = standin.thread(CHANNEL, root["ts"])
    assert [m["text"] for m in thread] == ["New conversation", "hello", "again"]
    assert thread[0]["reply_count"] == 2
    assert thread[0]["latest_reply"] == second["ts"]
    assert [method for method, _ in standin.calls] == ["chat.postMessage"] * 3


async def test_post_message_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    unknown = await _api_error(client.chat_postMessage(channel="C0NOWHERE1", text="hi"))
    no_thread = await _api_error(client.chat_postMessage(channel=CHANNEL, text="hi", thread_ts="1.000001"))
    # api_call, not chat_postMessage: the helper would warn (an error here) about the missing text.
    no_text = await _api_error(client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    no_channel = await _api_error(client.api_call("chat.postMessage", json={"text": "hi"}))

    assert unknown.response.data == {"ok": False, "error": "channel_not_found"}
    assert no_thread.response["error"] == "thread_not_found"
    assert no_text.response["error"] == "no_text"
    assert no_channel.response["error"] == "invalid_arguments"
    assert standin.posted == []
    assert len(standin.calls) == 4


async def test_reply_to_a_reply_is_thread_not_found(client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    reply = await client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root["ts"])

    err = await _api_error(client.chat_postMessage(channel=CHANNEL, text="nested", thread_ts=reply["ts"]))

    assert err.response["error"] == "thread_not_found"


async def test_form_encoded_post_with_blocks_as_json_text(standin: SlackStandIn, client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order* #1001"}}]

    resp = await client.api_call(
        "chat.postMessage", data={"channel": CHANNEL, "text": "Order 1001", "blocks": json.dumps(blocks)}
    )

    assert resp["message"]["blocks"] == blocks
    assert standin.calls[-1][1]["blocks"] == json.dumps(blocks)


async def test_rate_limit_answers_429_with_retry_after(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.rate_limit("chat.postMessage", times=2, retry_after=7)

    errors = [await _api_error(client.chat_postMessage(channel=CHANNEL, text="hi")) for _ in range(2)]
    ok = await client.chat_postMessage(channel=CHANNEL, text="hi")

    for err in errors:
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "7"
        assert err.response.data == {"ok": False, "error": "ratelimited"}
    assert ok["ok"] is True
    assert len(standin.posted) == 1
    assert len(standin.calls) == 3


async def test_rate_limit_is_per_method(client: AsyncWebClient, standin: SlackStandIn) -> None:
    standin.rate_limit("chat.update")

    assert (await client.auth_test())["ok"] is True


async def test_fail_answers_ok_false_the_given_times(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail("users.info", "fatal_error", times=2)

    errors = [await _api_error(client.users_info(user=DEFAULT_AGENT_ID)) for _ in range(2)]
    ok = await client.users_info(user=DEFAULT_AGENT_ID)

    assert [(e.response.status_code, e.response["error"]) for e in errors] == [(200, "fatal_error")] * 2
    assert ok["ok"] is True


async def test_users_info(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U0MARIA001", "maria", "Maria")

    maria = (await client.users_info(user="U0MARIA001"))["user"]
    bot = (await client.users_info(user=BOT_USER))["user"]
    missing = await _api_error(client.users_info(user="U0NOBODY01"))

    assert maria["profile"]["display_name"] == "Maria"
    assert maria["real_name"] == "Maria"
    assert maria["is_bot"] is False
    assert bot["is_bot"] is True
    assert missing.response["error"] == "user_not_found"
    async with aiohttp.ClientSession() as http, http.get(maria["profile"]["image_72"]) as avatar:
        assert avatar.status == 200
        assert avatar.content_type == "image/svg+xml"


async def test_conversations_info(client: AsyncWebClient) -> None:
    channel = (await client.conversations_info(channel=CHANNEL))["channel"]
    missing = await _api_error(client.conversations_info(channel="C0NOWHERE1"))

    assert (channel["id"], channel["name"], channel["is_member"]) == (CHANNEL, "support", True)
    assert missing.response.data == {"ok": False, "error": "channel_not_found"}


async def test_chat_update(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="Waiting for an agent")

    updated = await client.chat_update(channel=CHANNEL, ts=root["ts"], text="Claimed by Maria")
    missing = await _api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert (updated["channel"], updated["ts"], updated["text"]) == (CHANNEL, root["ts"], "Claimed by Maria")
    assert updated["message"]["text"] == "Claimed by Maria"
    assert missing.response["error"] == "message_not_found"
    assert standin.thread(CHANNEL, root["ts"])[0]["text"] == "Claimed by Maria"
    # posted records what was sent, not the message's later state.
    assert standin.posted[0]["text"] == "Waiting for an agent"


async def test_chat_update_refuses_someone_elses_message(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    await standin.agent_reply(CHANNEL, root["ts"], "agent text")
    agent_ts = standin.thread(CHANNEL, root["ts"])[1]["ts"]

    err = await _api_error(client.chat_update(channel=CHANNEL, ts=agent_ts, text="x"))

    assert err.response["error"] == "cant_update_message"


async def test_wait_for_posts(standin: SlackStandIn, client: AsyncWebClient) -> None:
    waiter = asyncio.create_task(standin.wait_for_posts(2, timeout=5))
    await client.chat_postMessage(channel=CHANNEL, text="one")
    await client.chat_postMessage(channel=CHANNEL, text="two")

    assert [p["text"] for p in await waiter] == ["one", "two"]
    with pytest.raises(TimeoutError, match="posted 2 message"):
        await standin.wait_for_posts(3, timeout=0.05)


# ---------------------------------------------------------------- conformance with Slack's published examples


def _api_fixture_names() -> list[str]:
    if not FIXTURES.is_dir():
        return ["absent"]
    return sorted(path.name for path in (FIXTURES / "slack").glob("api-*.json"))


async def _call(client: AsyncWebClient, method: str, **params: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Status, headers and body of one call, whether Slack said ok or not."""
    try:
        resp = await client.api_call(method, json=params)
    except SlackApiError as exc:
        resp = exc.response
    assert isinstance(resp.data, dict)
    return resp.status_code, dict(resp.headers), resp.data


# Published examples of methods the stand-in does not speak yet, and the work that brings them.
_NOT_MODELLED_YET = {
    # Documented arguments, not a response: tests/standins/test_slack_streams.py checks the stand-in against them.
    "api-chat-stream.json": "an arguments document (checked by tests/standins/test_slack_streams.py)",
}


async def _scenario(
    name: str, standin: SlackStandIn, client: AsyncWebClient
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Produce, against the stand-in, the situation the fixture documents."""
    scenarios: dict[str, Callable[[], Awaitable[tuple[int, dict[str, Any], dict[str, Any]]]]] = {
        "api-auth-test.json": lambda: _call(client, "auth.test"),
        "api-auth-test-bot.json": lambda: _call(client, "auth.test"),
        # The docs example was posted with a custom username and an attachment.
        "api-chat-postMessage.json": lambda: _call(
            client,
            "chat.postMessage",
            channel=CHANNEL,
            text="Here's a message for you",
            username="ecto1",
            attachments=[{"text": "This is an attachment", "fallback": "This is an attachment's fallback"}],
        ),
        "api-users-info.json": lambda: _call(client, "users.info", user=DEFAULT_AGENT_ID),
        # The published page is the first of several: more channels than `limit`.
        "api-conversations-list.json": lambda: _call(client, "conversations.list", limit=1),
        "api-error-channel-not-found.json": lambda: _call(client, "conversations.info", channel="C0NOWHERE1"),
    }
    if name == "api-oauth-v2-access.json":
        # A person clicked Allow on the authorize page; the app trades the code for the bot token.
        target = standin.approve("https://zora.example/slack/oauth_redirect", "s1")
        code = target.split("code=")[1].split("&")[0]
        return await _call(
            client,
            "oauth.v2.access",
            code=code,
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            redirect_uri="https://zora.example/slack/oauth_redirect",
        )
    if name == "api-chat-update.json":
        root = await client.chat_postMessage(channel=CHANNEL, text="before")
        return await _call(client, "chat.update", channel=CHANNEL, ts=root["ts"], text="after")
    if name == "api-conversations-replies.json":
        # The published page has more replies than fit in one page: a parent, replies, a cursor.
        root = await client.chat_postMessage(channel=CHANNEL, text="island")
        for text in ("one island", "two island", "three for the land", "and one more"):
            await standin.agent_reply(CHANNEL, root["ts"], text, deliver=False)
        return await _call(client, "conversations.replies", channel=CHANNEL, ts=root["ts"], limit=3)
    if name in _NOT_MODELLED_YET:
        pytest.skip(_NOT_MODELLED_YET[name])
    if name == "api-ratelimited-429.json":
        standin.rate_limit("chat.postMessage", retry_after=30)
        return await _call(client, "chat.postMessage", channel=CHANNEL, text="hi")
    if name not in scenarios:
        pytest.fail(f"no scenario for fixture {name}: add one so the stand-in is checked against it")
    return await scenarios[name]()


def _assert_keys_cover(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    missing = set(expected) - set(actual)
    assert not missing, f"{where}: stand-in lacks {sorted(missing)}"


@pytest.mark.parametrize("name", _api_fixture_names())
async def test_web_api_conforms_to_published_example(name: str, standin: SlackStandIn, client: AsyncWebClient) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    expected = _fixture(name)

    status, headers, body = await _scenario(name, standin, client)

    if "status" in expected:
        assert status == expected["status"]
        lowered = {key.lower(): value for key, value in headers.items()}
        for header, value in expected["headers"].items():
            assert lowered[header.lower()] == value
        return
    assert status == 200
    if expected["ok"] is False:
        assert body == expected
        return
    assert body["ok"] is True
    _assert_keys_cover(expected, body, name)
    if isinstance(expected.get("messages"), list):
        for index, message in enumerate(expected["messages"][: len(body["messages"])]):
            # Per-reader fields (last_read, subscribed, unread_count) need a user token.
            reader = {"last_read", "subscribed", "unread_count"}
            _assert_keys_cover(
                {k: v for k, v in message.items() if k not in reader}, body["messages"][index], f"{name} [{index}]"
            )
    for sub in ("message", "user"):
        if isinstance(expected.get(sub), dict):
            _assert_keys_cover(expected[sub], body[sub], f"{name} .{sub}")
    if isinstance(expected.get("user"), dict):
        _assert_keys_cover(expected["user"]["profile"], body["user"]["profile"], f"{name} .user.profile")


# ---------------------------------------------------------------- Events API


async def test_agent_reply_delivers_a_signed_thread_reply(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="Shopper asks about order 1001")

    status = await standin.agent_reply(CHANNEL, root["ts"], "It ships today")
    headers, payload, valid = await receiver.next()

    assert status == 200
    assert valid
    assert headers["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in headers
    assert payload["type"] == "event_callback"
    assert payload["team_id"] == standin.team_id
    assert payload["api_app_id"] == standin.app_id
    assert payload["authorizations"][0]["user_id"] == BOT_USER
    event = payload["event"]
    assert (event["type"], event["channel"], event["user"]) == ("message", CHANNEL, DEFAULT_AGENT_ID)
    assert event["thread_ts"] == root["ts"] != event["ts"]
    assert event["parent_user_id"] == BOT_USER
    assert event["text"] == "It ships today"
    assert event["blocks"][0]["type"] == "rich_text"
    assert [m["text"] for m in standin.thread(CHANNEL, root["ts"])][-1] == "It ships today"


async def test_delivered_event_has_the_published_thread_reply_shape(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    thread_reply = _fixture("message-thread-reply.json")
    docs_message = _fixture("message.json")
    root = await client.chat_postMessage(channel=CHANNEL, text="root")

    await standin.agent_reply(CHANNEL, root["ts"], "reply")
    _, payload, _ = await receiver.next()

    _assert_keys_cover(thread_reply["event"], payload["event"], "event")
    _assert_keys_cover(docs_message, payload, "envelope")
    # enterprise_id is only sent for Enterprise Grid installs; the stand-in is a plain workspace.
    _assert_keys_cover({k: v for k, v in thread_reply.items() if k != "enterprise_id"}, payload, "envelope")
    _assert_keys_cover(thread_reply["authorizations"][0], payload["authorizations"][0], "authorizations")


async def test_retry_reuses_event_id_and_adds_retry_headers(standin: SlackStandIn, receiver: Receiver) -> None:
    event = {"type": "message", "channel": CHANNEL, "user": DEFAULT_AGENT_ID, "text": "x", "ts": "1.000001"}

    await standin.deliver_event(event, event_id="Ev0RETRY001")
    await standin.deliver_event(event, event_id="Ev0RETRY001", retry_num=1)
    await standin.deliver_event(event, event_id="Ev0RETRY001", retry_num=2, retry_reason="http_error")
    deliveries = [await receiver.next() for _ in range(3)]

    assert all(valid for _, _, valid in deliveries)
    assert {p["event_id"] for _, p, _ in deliveries} == {"Ev0RETRY001"}
    assert len({p["event_time"] for _, p, _ in deliveries}) == 1
    assert [(h.get("X-Slack-Retry-Num"), h.get("X-Slack-Retry-Reason")) for h, _, _ in deliveries] == [
        (None, None),
        ("1", "http_timeout"),
        ("2", "http_error"),
    ]


async def test_fresh_events_get_fresh_ids(standin: SlackStandIn, receiver: Receiver) -> None:
    event = {"type": "message", "channel": CHANNEL, "user": DEFAULT_AGENT_ID, "text": "x", "ts": "1.000001"}

    await standin.deliver_event(event)
    await standin.deliver_event(event)

    ids = {(await receiver.next())[1]["event_id"] for _ in range(2)}
    assert len(ids) == 2
    assert all(event_id.startswith("Ev") for event_id in ids)


async def test_delivery_returns_zoras_status(standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver) -> None:
    receiver.status = 401
    root = await client.chat_postMessage(channel=CHANNEL, text="root")

    assert await standin.agent_reply(CHANNEL, root["ts"], "reply") == 401


async def test_sign_matches_slacks_scheme() -> None:
    slack = SlackStandIn(bot_token=TOKEN, signing_secret=SECRET)
    body = b'{"type":"event_callback"}'
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid_request(body, slack.sign(body))
    assert not verifier.is_valid_request(body + b" ", slack.sign(body))
    assert not verifier.is_valid_request(body, slack.sign(body, timestamp=int(time.time()) - 600))
    assert not SignatureVerifier("other").is_valid_request(body, slack.sign(body))


async def test_agent_reply_needs_a_thread_and_an_events_url(standin: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.raises(StandInError, match="no thread"):
        await standin.agent_reply(CHANNEL, "1.000001", "hello")
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    standin.events_url = None
    with pytest.raises(StandInError, match="events_url"):
        await standin.agent_reply(CHANNEL, root["ts"], "hello")


async def test_auto_reply_answers_thread_posts_only(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    seen: list[dict[str, Any]] = []

    def reply(message: dict[str, Any]) -> str | None:
        seen.append(message)
        return None if message["text"] == "quiet" else f"echo: {message['text']}"

    standin.auto_reply = reply
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    await client.chat_postMessage(channel=CHANNEL, text="quiet", thread_ts=root["ts"])
    await client.chat_postMessage(channel=CHANNEL, text="where is my order?", thread_ts=root["ts"])
    _, payload, valid = await receiver.next()

    assert valid
    assert payload["event"]["text"] == "echo: where is my order?"
    assert payload["event"]["thread_ts"] == root["ts"]
    assert [m["text"] for m in seen] == ["quiet", "where is my order?"]
    assert receiver.deliveries.empty()


async def test_stop_cancels_pending_auto_replies(receiver: Receiver) -> None:
    receiver.hold = asyncio.Event()
    slack = SlackStandIn(bot_token=TOKEN, signing_secret=SECRET, events_url=receiver.url, auto_reply=lambda _: "hi")
    slack.add_channel(CHANNEL, "support")
    await slack.start()
    web_client = AsyncWebClient(token=TOKEN, base_url=slack.base_url)
    root = await web_client.chat_postMessage(channel=CHANNEL, text="root")
    await web_client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root["ts"])
    await receiver.next()

    started = time.monotonic()
    await slack.stop()
    receiver.hold.set()

    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- the inbox page for `zora dev`


async def test_inbox_renders_threads_escaped_and_its_form_delivers_a_reply(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="<script>alert(1)</script> needs help")
    await client.chat_postMessage(channel=CHANNEL, text="Order & shipping", thread_ts=root["ts"])

    async with aiohttp.ClientSession() as http:
        async with http.get(standin.inbox_url) as page:
            html = await page.text()
            assert page.status == 200
            assert page.content_type == "text/html"
        form = {"channel": CHANNEL, "thread_ts": root["ts"], "text": "On its way <b>today</b>"}
        async with http.post(f"{standin.inbox_url}/reply", data=form, allow_redirects=False) as posted:
            assert posted.status == 303
            assert posted.headers["Location"].startswith("/dev/slack")
        async with http.get(standin.inbox_url) as page:
            after = await page.text()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; needs help" in html
    assert "Order &amp; shipping" in html
    assert 'action="/dev/slack/reply"' in html
    assert f'value="{root["ts"]}"' in html
    _, payload, valid = await receiver.next()
    assert valid
    assert payload["event"]["text"] == "On its way <b>today</b>"
    assert payload["event"]["thread_ts"] == root["ts"]
    assert "On its way &lt;b&gt;today&lt;/b&gt;" in after


async def test_inbox_reports_a_failed_delivery(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    standin.events_url = None

    async with aiohttp.ClientSession() as http:
        form = {"channel": CHANNEL, "thread_ts": root["ts"], "text": "hello"}
        async with http.post(f"{standin.inbox_url}/reply", data=form) as page:
            html = await page.text()

    assert "Reply not delivered" in html


async def test_inbox_refuses_cross_origin_posts(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")

    async with aiohttp.ClientSession() as http:
        form = {"channel": CHANNEL, "thread_ts": root["ts"], "text": "forged"}
        headers = {"Origin": "https://evil.example"}
        async with http.post(f"{standin.inbox_url}/reply", data=form, headers=headers) as resp:
            assert resp.status == 403

    assert receiver.deliveries.empty()
    assert len(standin.thread(CHANNEL, root["ts"])) == 1


# ---------------------------------------------------------------- files


async def test_file_share_event_has_the_published_shape(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(NO_FIXTURES)
    published = _fixture("message-file-share.json")
    root = await client.chat_postMessage(channel=CHANNEL, text="root")

    await standin.share_file(CHANNEL, root["ts"], "file.png", b"\x89PNG\r\n\x1a\nrest", "image/png", "Hi there!")
    _, payload, valid = await receiver.next()

    assert valid
    event = payload["event"]
    _assert_keys_cover(published["event"], event, "event")
    # Thumbnails are Slack's previews of images; Zora copies the original, so the stand-in has none.
    expected_file = {
        k: v for k, v in published["event"]["files"][0].items() if not k.startswith(("thumb_", "original_"))
    }
    _assert_keys_cover(expected_file, event["files"][0], "event.files[0]")
    assert (event["subtype"], event["thread_ts"], event["text"]) == ("file_share", root["ts"], "Hi there!")
    assert event["files"][0]["mimetype"] == "image/png"


async def test_private_file_urls_need_the_bot_token(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    content = b"%PDF-1.4 test"
    await standin.share_file(CHANNEL, root["ts"], "a.pdf", content, "application/pdf")
    _, payload, _ = await receiver.next()
    url = payload["event"]["files"][0]["url_private_download"]
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert (resp.status, resp.content_type, await resp.read()) == (200, "application/pdf", content)
        # Like Slack: without the token, a sign-in page with status 200, not the file.
        async with http.get(url) as resp:
            assert resp.content_type == "text/html"
            assert await resp.read() != content


async def test_upload_v2_into_a_thread_and_delete(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    content = b"\x89PNG\r\n\x1a\nimage"
    response = await client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=root["ts"],
        file_uploads=[{"content": content, "filename": "p.png", "title": "p.png"}],
    )
    file_id = response["files"][0]["id"]
    assert [(u["id"], u["thread_ts"], u["content"], u["mimetype"]) for u in standin.uploads] == [
        (file_id, root["ts"], content, "image/png")
    ]
    assert [f["id"] for m in standin.thread(CHANNEL, root["ts"]) for f in m.get("files", [])] == [file_id]
    assert (await client.files_delete(file=file_id))["ok"]
    assert (await _api_error(client.files_delete(file=file_id))).response["error"] == "file_not_found"


async def test_upload_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    error = await _api_error(client.files_getUploadURLExternal(filename="a.png", length=0))
    assert error.response["error"] == "invalid_arguments"
    started = await client.files_getUploadURLExternal(filename="a.png", length=3)
    # Completing before the bytes arrived, or into a thread that does not exist.
    not_uploaded = client.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id=CHANNEL)
    assert (await _api_error(not_uploaded)).response["error"] == "file_not_found"
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    await standin.share_file(CHANNEL, root["ts"], "agent.png", b"\x89PNG\r\n\x1a\n", "image/png")
    agents = next(f for f in standin.files.values() if f.get("name") == "agent.png")
    # A bot token deletes only the bot's own files.
    assert (await _api_error(client.files_delete(file=agents["id"]))).response["error"] == "cant_delete_file"


async def test_inbox_form_shares_a_file_in_the_thread(
    standin: SlackStandIn, client: AsyncWebClient, receiver: Receiver
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="root")
    content = b"%PDF-1.4 the care guide"
    form = aiohttp.FormData(quote_fields=False)  # as a browser sends the file name
    form.add_field("channel", CHANNEL)
    form.add_field("thread_ts", root["ts"])
    form.add_field("text", "here is the guide")
    form.add_field("file", content, filename="care <guide>.pdf", content_type="application/pdf")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{standin.inbox_url}/reply", data=form, allow_redirects=False) as posted:
            assert posted.status == 303 and "error" not in posted.headers["Location"]
        _, payload, valid = await receiver.next()
        event = payload["event"]
        assert valid and (event["subtype"], event["text"]) == ("file_share", "here is the guide")
        [shared] = event["files"]
        assert (shared["name"], shared["mimetype"], shared["size"]) == (
            "care <guide>.pdf",
            "application/pdf",
            len(content),
        )
        async with http.get(standin.inbox_url) as page:
            html = await page.text()
        # Shown on the page (escaped), with a link that serves the file.
        assert "care &lt;guide&gt;.pdf" in html and "care <guide>" not in html
        async with http.get(f"{standin.base_url.removesuffix('/api/')}/dev/slack/files/{shared['id']}") as got:
            assert await got.read() == content


# ---------------------------------------------------------------- conversations.replies


async def test_replies_pages_a_thread_parent_first_with_metadata_on_request(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="card")
    mine = await client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=root["ts"],
        text="from the shopper",
        metadata={"event_type": "zora_message", "event_payload": {"seq": 1}},
    )
    for n in range(3):
        await standin.agent_reply(CHANNEL, root["ts"], f"reply {n}", deliver=False)

    first = await client.conversations_replies(channel=CHANNEL, ts=root["ts"], limit=2)
    assert [m["text"] for m in first["messages"]] == ["card", "from the shopper", "reply 0"]
    assert "metadata" not in first["messages"][1]
    assert first["has_more"] is True
    rest = await client.conversations_replies(
        channel=CHANNEL, ts=root["ts"], cursor=first["response_metadata"]["next_cursor"], limit=2
    )
    assert [m["text"] for m in rest["messages"]] == ["reply 1", "reply 2"]
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""

    since = await client.conversations_replies(
        channel=CHANNEL, ts=mine["ts"], oldest=mine["ts"], include_all_metadata=True
    )
    assert [m["text"] for m in since["messages"]] == ["card", "reply 0", "reply 1", "reply 2"]
    inclusive = await client.conversations_replies(
        channel=CHANNEL, ts=root["ts"], oldest=mine["ts"], inclusive=True, include_all_metadata=True
    )
    assert inclusive["messages"][1]["metadata"] == {"event_type": "zora_message", "event_payload": {"seq": 1}}


async def test_replies_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="card")
    for params, error in (
        ({"channel": CHANNEL, "ts": "1.000001"}, "thread_not_found"),
        ({"channel": "C0NOWHERE1", "ts": root["ts"]}, "channel_not_found"),
        ({"channel": CHANNEL, "ts": root["ts"], "oldest": "soon"}, "invalid_ts_oldest"),
        ({"channel": CHANNEL, "ts": root["ts"], "cursor": "garbage"}, "invalid_cursor"),
    ):
        _, _, body = await _call(client, "conversations.replies", **params)
        assert body == {"ok": False, "error": error}, params


async def test_an_undelivered_reply_is_kept_but_sends_no_event(standin: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="card")
    assert await standin.agent_reply(CHANNEL, root["ts"], "while Zora was down", deliver=False) == 0
    assert [m["text"] for m in standin.thread(CHANNEL, root["ts"])] == ["card", "while Zora was down"]
