"""The settings page's API (zora/admin.py): who may call it, what it accepts, versions, history, undo,
and a saved change reaching a running conversation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from tests.harness import AGENT, CHANNEL
from tests.helpers import set_shop_settings
from tests.shopify.harness import API_KEY, API_SECRET, ShopifyZora, running_shopify
from zora.models import ConversationState, conversation_workflow_id
from zora.shop_settings import ShopSettings


def token(shop: str, **change: Any) -> str:
    """A session token as App Bridge makes it; `change` replaces claims (None drops one)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": API_KEY,
        "sub": "71",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
    }
    secret = change.pop("_secret", API_SECRET)
    for key, value in change.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return jwt.encode(claims, secret, algorithm="HS256")


async def call(
    sz: ShopifyZora, method: str, path: str, body: Any = None, *, bearer: str | None = ""
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if bearer == "":
        bearer = token(sz.shop)
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    async with sz.zora.http.request(method, f"{sz.zora.base_url}/admin/api/{path}", json=body, headers=headers) as resp:
        answer: dict[str, Any] = await resp.json(content_type=None)
        return resp.status, answer


async def stored(sz: ShopifyZora) -> tuple[dict[str, Any], int, int]:
    row = await sz.fetchrow("SELECT settings, settings_version FROM shops WHERE id = $1", sz.shop_id)
    history = await sz.fetchrow("SELECT count(*) AS n FROM shop_settings_history WHERE shop_id = $1", sz.shop_id)
    settings = row["settings"]
    return (json.loads(settings) if isinstance(settings, str) else settings), row["settings_version"], history["n"]


async def current(sz: ShopifyZora) -> dict[str, Any]:
    status, answer = await call(sz, "GET", "settings")
    assert status == 200, answer
    return answer


def _other_shop() -> str:
    return f"other-{uuid.uuid4().hex[:8]}.myshopify.com"


BAD_TOKENS: dict[str, Callable[[str], str | None]] = {
    "missing": lambda shop: None,
    "not a jwt": lambda shop: "not-a-token",
    "expired": lambda shop: token(shop, exp=int(time.time()) - 60, nbf=int(time.time()) - 120),
    "not yet valid": lambda shop: token(shop, nbf=int(time.time()) + 120),
    "wrong audience": lambda shop: token(shop, aud="someone-elses-app"),
    "wrong signature": lambda shop: token(shop, _secret="not-the-app-secret-but-long-enough-0000"),
    "iss and dest differ": lambda shop: token(shop, iss=f"https://{_other_shop()}/admin"),
    "shop not installed": lambda shop: token(_other_shop()),
    "no sid": lambda shop: token(shop, sid=None),
    "no jti": lambda shop: token(shop, jti=None),
    "no sub": lambda shop: token(shop, sub=None),
    "alg none": lambda shop: jwt.encode(
        {**jwt.decode(token(shop), options={"verify_signature": False})}, key=None, algorithm="none"
    ),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_a_request_without_a_valid_session_token_gets_401_and_changes_nothing(sz: ShopifyZora, case: str) -> None:
    before = await stored(sz)
    bearer = BAD_TOKENS[case](sz.shop)
    base = (await current(sz))["version"]
    for method, path, body in (
        ("GET", "settings", None),
        ("PUT", "settings", {"version": base, "settings": {"note_prefix": "!!"}}),
        ("GET", "settings/history", None),
        ("POST", "settings/undo", {"version": base, "undo": 1}),
    ):
        status, answer = await call(sz, method, path, body, bearer=bearer)
        assert status == 401, (case, method, path, answer)
        assert answer["error"]["code"] == "unauthorized"
    assert await stored(sz) == before


async def test_a_shop_that_uninstalled_is_refused(sz: ShopifyZora) -> None:
    await sz.zora.fetch("UPDATE shops SET uninstalled_at = now() WHERE id = $1", sz.shop_id)
    try:
        status, _ = await call(sz, "GET", "settings")
        assert status == 401
    finally:
        await sz.zora.fetch("UPDATE shops SET uninstalled_at = NULL WHERE id = $1", sz.shop_id)
    assert (await call(sz, "GET", "settings"))[0] == 200


async def test_a_token_acts_for_its_own_shop_only(sz: ShopifyZora) -> None:
    other = _other_shop()
    other_id = await sz.zora.fetch(
        "INSERT INTO shops (domain, name, settings) VALUES ($1, 'Other', $2) RETURNING id", other, {"note_prefix": "%%"}
    )
    before = await stored(sz)
    status, answer = await call(sz, "GET", "settings", bearer=token(other))
    assert status == 200 and answer["shop"] == other and answer["settings"]["note_prefix"] == "%%"
    status, answer = await call(
        sz, "PUT", "settings", {"version": 0, "settings": {"note_prefix": "&&"}}, bearer=token(other)
    )
    assert status == 200
    assert await stored(sz) == before
    rows = await sz.fetch("SELECT settings FROM shops WHERE id = $1", other_id[0]["id"])
    assert rows[0]["settings"] == {"note_prefix": "&&"}
    status, history = await call(sz, "GET", "settings/history")
    assert all(change["new"].get("note_prefix") != "&&" for change in history["changes"])


async def test_get_gives_every_setting_with_its_default(sz: ShopifyZora) -> None:
    answer = await current(sz)
    assert answer["shop"] == sz.shop
    settings = answer["settings"]
    assert settings["note_prefix"] == ";;"
    assert settings["reminder_minutes"] == 15
    assert settings["assistant"]["persona_name"] == "Assistant"


async def test_invalid_settings_are_refused_per_field_and_nothing_is_stored(sz: ShopifyZora) -> None:
    base = await current(sz)
    before = await stored(sz)
    bad = {
        **base["settings"],
        "timezone": "Mars/Olympus",
        "reminder_minutes": -5,
        "note_prefix": "",
        "reminder_mention": "everyone",
        "business_hours": {"mon": ["18:00", "09:00"]},
        "assistant": {**base["settings"]["assistant"], "max_steps": 99},
        "greetings": {"en": 5},
    }
    status, answer = await call(sz, "PUT", "settings", {"version": base["version"], "settings": bad})
    assert status == 422, answer
    errors = answer["errors"]
    assert errors["timezone"] == "unknown time zone 'Mars/Olympus'"
    assert "greater than or equal to 0" in errors["reminder_minutes"]
    assert "at least 1 character" in errors["note_prefix"]
    assert "reminder_mention" in errors
    assert "opening 18:00 must be before closing 09:00" in errors["business_hours"]
    assert "less than or equal to 10" in errors["assistant.max_steps"]
    # A greeting given the older way is checked where it is stored now.
    assert "texts.en.greeting" in errors
    assert await stored(sz) == before


async def test_unknown_settings_are_refused_not_silently_dropped(sz: ShopifyZora) -> None:
    base = await current(sz)
    before = await stored(sz)
    status, answer = await call(
        sz, "PUT", "settings", {"version": base["version"], "settings": {"note_prefx": "##", "assistant": {"x": 1}}}
    )
    assert status == 422
    assert answer["errors"] == {"note_prefx": "unknown setting", "assistant.x": "unknown setting"}
    assert await stored(sz) == before


async def test_a_rule_across_fields_is_named(sz: ShopifyZora) -> None:
    base = await current(sz)
    settings = {**base["settings"], "business_hours": None}
    settings["assistant"] = {**settings["assistant"], "enabled": True, "mode": "outside_hours"}
    status, answer = await call(sz, "PUT", "settings", {"version": base["version"], "settings": settings})
    assert status == 422
    assert answer["errors"] == {"settings": "assistant mode 'outside_hours' needs business_hours to be set"}


async def test_malformed_bodies_are_refused(sz: ShopifyZora) -> None:
    before = await stored(sz)
    for body in ({"settings": {}}, {"version": "1", "settings": {}}, [1, 2]):
        status, _ = await call(sz, "PUT", "settings", body)
        assert status == 400
    for body in ({"version": True, "settings": {}}, {"version": 2**40, "settings": {}}):
        status, _ = await call(sz, "PUT", "settings", body)
        assert status == 400
    status, _ = await call(sz, "POST", "settings/undo", {"version": before[1], "undo": 2**40})
    assert status == 400
    status, answer = await call(sz, "PUT", "settings", {"version": before[1], "settings": "nope"})
    assert status == 422 and answer["errors"] == {"settings": "must be an object of settings"}
    # PostgreSQL's jsonb cannot hold NUL: refused by field, not a failed save.
    nul = {"note_prefix": "\x00;", "greetings": {"fr": "Bon\x00jour"}}
    status, answer = await call(sz, "PUT", "settings", {"version": before[1], "settings": nul})
    assert status == 422
    assert answer["errors"] == {
        "note_prefix": "must not contain NUL characters",
        "greetings.fr": "must not contain NUL characters",
    }
    assert await stored(sz) == before


async def test_saves_are_versioned_with_who_and_what_and_undoable(sz: ShopifyZora) -> None:
    base = await current(sz)
    v0 = base["version"]
    first = {**base["settings"], "note_prefix": "##"}
    status, answer = await call(
        sz, "PUT", "settings", {"version": v0, "settings": first}, bearer=token(sz.shop, sub="71")
    )
    assert status == 200, answer
    assert answer["version"] == v0 + 1
    second = {**answer["settings"], "reminder_minutes": 30, "greetings": {"default": "Hi!"}}
    status, answer = await call(
        sz, "PUT", "settings", {"version": v0 + 1, "settings": second}, bearer=token(sz.shop, sub="72")
    )
    assert status == 200 and answer["version"] == v0 + 2
    # Only what differs from the defaults is stored, as JSON objects (SQL reads them: `settings ? 'key'`).
    shapes = await sz.fetchrow(
        "SELECT jsonb_typeof(s.settings) AS settings, jsonb_typeof(h.old_settings) AS old,"
        " jsonb_typeof(h.new_settings) AS new FROM shops s JOIN shop_settings_history h ON h.shop_id = s.id"
        " WHERE s.id = $1 AND h.version = $2",
        sz.shop_id,
        v0 + 2,
    )
    assert dict(shapes) == {"settings": "object", "old": "object", "new": "object"}
    settings, version, _ = await stored(sz)
    assert version == v0 + 2
    assert settings["note_prefix"] == "##" and settings["reminder_minutes"] == 30
    assert "alerts_only" not in settings

    status, history = await call(sz, "GET", "settings/history")
    assert status == 200
    newest, previous = history["changes"][0], history["changes"][1]
    assert newest["version"] == v0 + 2 and newest["by"] == "72"
    assert newest["changed"] == ["reminder_minutes", "texts"]
    assert previous["version"] == v0 + 1 and previous["by"] == "71" and previous["changed"] == ["note_prefix"]

    # Someone else saved in between: 409, nothing stored.
    before = await stored(sz)
    status, answer = await call(sz, "PUT", "settings", {"version": v0 + 1, "settings": first})
    assert status == 409 and answer["version"] == v0 + 2
    assert await stored(sz) == before
    status, answer = await call(sz, "POST", "settings/undo", {"version": v0 + 1, "undo": v0 + 2})
    assert status == 409
    assert await stored(sz) == before

    # Undo the second change: its reminder and greeting go, the first change stays.
    status, answer = await call(sz, "POST", "settings/undo", {"version": v0 + 2, "undo": v0 + 2})
    assert status == 200, answer
    assert answer["version"] == v0 + 3
    after = (await current(sz))["settings"]
    assert after["note_prefix"] == "##" and after["reminder_minutes"] == 15 and after["texts"] == {}
    status, history = await call(sz, "GET", "settings/history")
    assert history["changes"][0]["restored_from"] == v0 + 1
    status, answer = await call(sz, "POST", "settings/undo", {"version": v0 + 3, "undo": 999})
    assert status == 404


async def test_two_saves_at_once_from_the_same_version_one_wins(sz: ShopifyZora) -> None:
    base = await current(sz)
    results = await asyncio.gather(
        *(
            call(
                sz, "PUT", "settings", {"version": base["version"], "settings": {**base["settings"], "note_prefix": p}}
            )
            for p in ("a>", "b>", "c>")
        )
    )
    assert sorted(status for status, _ in results) == [200, 409, 409]
    settings, version, _ = await stored(sz)
    assert version == base["version"] + 1
    winner = next(answer for status, answer in results if status == 200)
    assert settings["note_prefix"] == winner["settings"]["note_prefix"]


async def test_the_admin_api_is_rate_limited_per_shop(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url, rate_admin_requests_per_shop="3/minute") as limited:
        for _ in range(3):
            assert (await call(limited, "GET", "settings"))[0] == 200
        status, answer = await call(limited, "GET", "settings")
        assert status == 429 and answer["error"]["code"] == "rate_limited"


async def test_the_page_is_served_with_app_bridge_first_and_framing_limited(sz: ShopifyZora) -> None:
    async with sz.zora.http.get(f"{sz.zora.base_url}/admin?shop={sz.shop}&host=abc") as resp:
        assert resp.status == 200
        page = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in page
    head = page[: page.index("</head>")]
    # App Bridge is the first script, loaded from Shopify's CDN, not deferred.
    first_script = head[head.index("<script") : head.index(">", head.index("<script")) + 1]
    assert first_script == '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js">'
    assert "https://cdn.shopify.com/shopifycloud/polaris.js" in head
    assert csp.startswith("frame-ancestors https://admin.shopify.com ")
    assert f"https://{sz.shop}" in csp.split()
    # Without a valid shop, only Shopify admin itself (and the test's stand-in) may frame it.
    async with sz.zora.http.get(f"{sz.zora.base_url}/admin?shop=evil.example.com") as resp:
        assert "evil.example.com" not in resp.headers["Content-Security-Policy"]


async def test_a_saved_change_reaches_a_running_conversation(sz: ShopifyZora) -> None:
    """The note prefix is read where it is used; the transcript choice lives in the workflow's state and
    arrives by signal. Both change while the conversation runs."""
    zora = sz.zora
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    before = len(zora.standin.posted)
    assert (await shopper.send("Is the mug dishwasher safe?"))["ok"]
    root = (await zora.standin.wait_for_posts(before + 2))[before]
    cid = session["conversation_id"]
    await zora.workflow_run_id(cid)
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    assert (await handle.query("snapshot", result_type=ConversationState)).transcript_on_resolve is False

    base = await current(sz)
    changed = {**base["settings"], "note_prefix": "//", "transcript_on_resolve": True}
    status, _ = await call(sz, "PUT", "settings", {"version": base["version"], "settings": changed})
    assert status == 200

    async def wait_for(check: Callable[[], Any]) -> None:
        for _ in range(400):
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the running conversation never took the change")

    async def carries_transcript_choice() -> bool:
        state = await handle.query("snapshot", result_type=ConversationState)
        return state.transcript_on_resolve

    await wait_for(carries_transcript_choice)
    # The new prefix keeps a note in Slack; the old one is now an ordinary reply.
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "// check the box first") == 200
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], ";; yes it is") == 200
    await shopper.wait_for(lambda: any(m["body"] == ";; yes it is" for m in shopper.agent_messages()))
    assert all("check the box" not in m["body"] for m in shopper.agent_messages())


async def test_a_run_that_missed_the_signal_takes_the_change_at_its_next_tick(sz: ShopifyZora) -> None:
    """Settings written without a signal (a signal lost while Temporal was unreachable): the tick,
    which reads the shop's settings anyway, brings the carried choices up to date."""
    zora = sz.zora
    # Reminders due within seconds make the workflow tick every second.
    await set_shop_settings(zora, sz.shop_id, reminder_minutes=0.02, reminder_mention="here")
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.send("Hello?"))["ok"]
    cid = session["conversation_id"]
    await zora.workflow_run_id(cid)
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
    assert (await handle.query("snapshot", result_type=ConversationState)).transcript_on_resolve is False
    await zora.fetch(
        "UPDATE shops SET settings = settings || $2 WHERE id = $1", sz.shop_id, {"transcript_on_resolve": True}
    )
    try:
        for _ in range(400):
            if (await handle.query("snapshot", result_type=ConversationState)).transcript_on_resolve:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the tick never refreshed the shop's choices")
    finally:
        await set_shop_settings(zora, sz.shop_id)


# Hypothesis through the real server with a valid token: whatever a caller sends, no 5xx, no stack
# trace, and nothing stored unless the answer is 200.

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["\x00", "UTC", "S0ABC", "here", "09:00", "a" * 5000])
)
_keys = st.sampled_from([*ShopSettings.model_fields, "assistant", "mon", "default", "x\x00"]) | st.text(max_size=8)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=12,
)
_bodies = st.dictionaries(st.sampled_from(["version", "settings", "undo"]), _values, max_size=3) | _values


@fuzz_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method_path=st.sampled_from([("PUT", "settings"), ("POST", "settings/undo")]), body=_bodies)
async def test_the_admin_api_refuses_garbage_cleanly(sz: ShopifyZora, method_path: tuple[str, str], body: Any) -> None:
    before = await stored(sz)
    method, path = method_path
    async with sz.zora.http.request(
        method,
        f"{sz.zora.base_url}/admin/api/{path}",
        data=json.dumps(body, allow_nan=True),
        headers={"Authorization": f"Bearer {token(sz.shop)}", "Content-Type": "application/json"},
    ) as resp:
        status, text = resp.status, await resp.text()
    assert status < 500, text[:300]
    assert "Traceback" not in text
    if status != 200:
        assert await stored(sz) == before


async def test_settings_stored_invalid_by_hand_open_with_defaults_and_say_what_was_wrong(sz: ShopifyZora) -> None:
    await set_shop_settings(sz.zora, sz.shop_id, reminder_minutes=-1)
    try:
        answer = await current(sz)
        assert answer["settings"]["reminder_minutes"] == 15
        assert "greater than or equal to 0" in answer["stored_errors"]["reminder_minutes"]
    finally:
        await set_shop_settings(sz.zora, sz.shop_id)


async def test_turning_auto_assign_on_assigns_the_open_conversations_waiting_for_an_agent(sz: ShopifyZora) -> None:
    zora = sz.zora
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.send("Anyone there?"))["ok"]
    cid = session["conversation_id"]
    await zora.workflow_run_id(cid)
    base = await current(sz)
    changed = {**base["settings"], "auto_assign": True, "assign_agents": [AGENT]}
    status, _ = await call(sz, "PUT", "settings", {"version": base["version"], "settings": changed})
    assert status == 200
    try:
        for _ in range(400):
            rows = await zora.fetch("SELECT status, assignee FROM conversations WHERE id = $1::uuid", cid)
            if rows[0]["assignee"] is not None:
                break
            await asyncio.sleep(0.05)
        assert dict(rows[0]) == {"status": "assigned", "assignee": AGENT}
    finally:
        await set_shop_settings(zora, sz.shop_id)
