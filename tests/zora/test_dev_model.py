"""`zora dev` and the assistant (issue 12 §9): without OPENAI_BASE_URL it starts the OpenAI stand-in and
points Zora at it (and says where), with it it starts nothing; the demo shop's assistant is on unless the
merchant chose otherwise; the seeded demo shop has an order #1001 with its tracking."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import aiohttp
import pytest
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities
from zora import db
from zora.app import cli
from zora.app.cli import _parser, main
from zora.app.dev import DevOptions, Sandbox, _ports, _welcome
from zora.assistant import ChatMessage, LlmRequest
from zora.settings import load_settings
from zora.shop_settings import parse_settings
from zora.shopify.dev import DEMO_TRACKING, enable_demo_assistant, seed
from zora.standins.openai import GREETING
from zora.standins.openai.dev import model_standin
from zora.standins.shopify import ShopifyStandIn


async def test_without_a_model_server_the_stand_in_runs_and_zora_uses_it(capsys: pytest.CaptureFixture[str]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        url, updates = await model_standin(stack, load_settings(_env_file=None))
        assert url is not None and updates["openai_base_url"] == url
        settings = load_settings(_env_file=None).with_values(**updates)
        llm = LlmActivities(settings)
        try:
            answer = await ActivityEnvironment().run(
                llm.complete, LlmRequest(turn_id="dev", messages=[ChatMessage(role="user", content="hello")])
            )
        finally:
            await llm.close()
        assert answer.content == GREETING
        _welcome(settings, 8000, Sandbox(updates={}, channel=None, openai_url=url), None)
        assert f"AI model (stand-in) {url}" in capsys.readouterr().out
    # Stopped with the run.
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.post(f"{url}/chat/completions", json={}):
            pass


async def test_with_a_model_server_nothing_is_started() -> None:
    async with contextlib.AsyncExitStack() as stack:
        settings = load_settings(_env_file=None, openai_base_url="http://127.0.0.1:11434/v1")
        assert await model_standin(stack, settings) == (None, {})


async def test_the_demo_shops_assistant_is_on_unless_the_merchant_chose(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            fresh: int = await conn.fetchval(
                "INSERT INTO shops (domain, name) VALUES ($1, 'Demo') RETURNING id",
                f"d{uuid.uuid4().hex[:8]}.myshopify.com",
            )
            chosen: int = await conn.fetchval(
                "INSERT INTO shops (domain, name, settings) VALUES ($1, 'Chosen', $2) RETURNING id",
                f"c{uuid.uuid4().hex[:8]}.myshopify.com",
                {"assistant": {"enabled": False}, "note_prefix": "!!"},
            )
        assert await enable_demo_assistant(pool, fresh) is True
        assert await enable_demo_assistant(pool, fresh) is False  # a restart changes nothing
        assert await enable_demo_assistant(pool, chosen) is False
        async with pool.acquire() as conn:
            stored: dict[int, Any] = dict(
                await conn.fetch("SELECT id, settings FROM shops WHERE id = ANY($1)", [fresh, chosen])
            )
        on = parse_settings(stored[fresh]).assistant
        assert on.enabled and on.policies and on.persona_name == "Zora"
        assert stored[chosen] == {"assistant": {"enabled": False}, "note_prefix": "!!"}
    finally:
        await pool.close()


def test_the_demo_shop_has_order_1001_shipped_with_tracking() -> None:
    standin = ShopifyStandIn(api_key="k", api_secret="s")
    seed(standin, "demo.myshopify.com")
    shop = standin.add_shop("demo.myshopify.com")
    (order,) = [o for o in shop.orders.values() if o["name"] == "#1001"]
    assert order["email"] == "maya@example.com" and order["displayFulfillmentStatus"] == "FULFILLED"
    (tracking,) = order["fulfillments"][0]["trackingInfo"]
    assert tracking["number"] == DEMO_TRACKING and DEMO_TRACKING in tracking["url"]


def test_the_model_stand_ins_port_is_checked_before_the_start_only_when_it_runs() -> None:
    opts = DevOptions(openai_port=8092)
    wanted = ("127.0.0.1", 8092, "OpenAI stand-in", "--openai-port")
    assert wanted in _ports(load_settings(_env_file=None), opts, 8000)
    assert wanted not in _ports(load_settings(_env_file=None, openai_base_url="http://127.0.0.1:1/v1"), opts, 8000)
    assert _parser().parse_args(["dev", "--openai-port", "8092"]).openai_port == 8092
    assert _parser().parse_args(["dev"]).openai_port == 0


def test_every_dev_option_comes_from_its_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    import zora.app.dev as dev

    seen: list[DevOptions] = []

    async def fake_run_dev(settings: Any, opts: DevOptions) -> None:
        seen.append(opts)

    monkeypatch.setattr(dev, "run_dev", fake_run_dev)
    # Nothing of the process changes: no logging set up, no runtime directory, no .env read.
    monkeypatch.setattr(cli, "setup_logging", lambda *_: None)
    monkeypatch.setattr(cli, "ensure_runtime_dir", lambda: None)
    monkeypatch.chdir(os.path.dirname(__file__))
    flags = ["--data-dir", "d", "--port", "1", "--slack-port", "2", "--temporal-port", "3", "--temporal-ui-port", "4"]
    flags += ["--shopify-port", "5", "--smtp-port", "6", "--mail-port", "7", "--openai-port", "8"]
    flags += ["--web", "2", "--workers", "3"]
    assert main(["dev", *flags]) == 0
    assert seen == [
        DevOptions(
            data_dir="d",
            port=1,
            slack_port=2,
            temporal_port=3,
            temporal_ui_port=4,
            shopify_port=5,
            smtp_port=6,
            mail_port=7,
            openai_port=8,
            web=2,
            workers=3,
        )
    ]
