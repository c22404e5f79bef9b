"""A running Zora (web + worker in one process) against the embedded servers and the Slack stand-in."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from widget.server import WidgetNamespace
from zora.app.assembly import serving_web, worker_for
from zora.app.dev import ensure_shop
from zora.app.web import SOCKETIO
from zora.services import Services, open_services
from zora.settings import RATE_SETTINGS, Settings
from zora.standins.slack import SlackStandIn

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"
CHANNEL = "C0SUPPORT1"
AGENT = "U0AGENT001"
# Every test's shoppers come from 127.0.0.1 and count in the one Redis of the test session, and some tests
# send hundreds of messages in a burst: the rate limits are lifted here. The tests of the limits
# (tests/security/test_rate_limits.py, tests/e2e/test_widget_rate_limit.py) set their own.
LIFTED_LIMITS = {name: "1000000/minute" for name in RATE_SETTINGS}


@dataclass
class Zora:
    settings: Settings
    services: Services
    standin: SlackStandIn
    base_url: str
    http: aiohttp.ClientSession
    shop: str
    shop_id: int
    clients: list[socketio.AsyncClient] = field(default_factory=list)
    app: web.Application | None = None

    async def session(
        self, shop: str | None = None, token: str | None = None, code: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"shop": shop or self.shop}
        if token:
            body["token"] = token
        if code:
            body["code"] = code
        async with self.http.post(f"{self.base_url}/widget/session", json=body) as resp:
            assert resp.status == 200, await resp.text()
            data: dict[str, Any] = await resp.json()
            return data

    def bound_token(self, session: dict[str, Any], customer: int) -> str:
        """The token the app proxy issues to a signed-in Shopify customer for this session's shopper:
        it carries the binding (`cus`), which a shopper bound to a customer must present."""
        from zora.security import ShopperIdentity, issue_shopper_token

        identity = ShopperIdentity(
            shop=self.shop,
            shop_id=self.shop_id,
            shopper_id=uuid.UUID(session["shopper_id"]),
            conversation_id=uuid.UUID(session["conversation_id"]),
            customer=customer,
        )
        return issue_shopper_token(self.settings.secret(), identity, 3600)

    async def shopper(self, token: str | None = None) -> Shopper:
        if token is None:
            token = (await self.session())["token"]
        shopper = Shopper(token=token)
        await shopper.connect(self.base_url)
        self.clients.append(shopper.sio)
        return shopper

    async def workflow_run_id(self, conversation_id: str) -> str:
        """The run id of the conversation's workflow, once it has started (it starts in the background)."""
        from temporalio.service import RPCError

        from zora.models import conversation_workflow_id

        handle = self.services.temporal.get_workflow_handle(
            conversation_workflow_id(self.shop, uuid.UUID(conversation_id))
        )
        for _ in range(200):
            try:
                run_id = (await handle.describe()).run_id
            except RPCError:
                await asyncio.sleep(0.05)
                continue
            assert run_id is not None
            return run_id
        raise AssertionError(f"the workflow of conversation {conversation_id} never started")

    async def activities_run(self, conversation_id: str, *, scheduled: bool = False) -> list[str]:
        """The activities (local ones included) the conversation's current run has completed, in order:
        a positive sign that the workflow got past a point, for tests that check something did not happen.
        With `scheduled`, activities scheduled and not finished yet are listed too. A workflow not
        started yet (it starts once the opening message is in Slack) has run none."""
        import json

        from temporalio.service import RPCError, RPCStatusCode

        from zora.models import conversation_workflow_id

        handle = self.services.temporal.get_workflow_handle(
            conversation_workflow_id(self.shop, uuid.UUID(conversation_id))
        )
        done: list[str] = []
        names: dict[int, str] = {}
        try:
            events = [event async for event in handle.fetch_history_events()]
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return done
        for event in events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
                if scheduled:
                    done.append(names[event.event_id])
            elif event.HasField("activity_task_completed_event_attributes") and not scheduled:
                done.append(names[event.activity_task_completed_event_attributes.scheduled_event_id])
            elif event.HasField("marker_recorded_event_attributes"):
                marker = event.marker_recorded_event_attributes
                if marker.marker_name == "core_local_activity":
                    data = json.loads(marker.details["data"].payloads[0].data)
                    done.append(str(data["activity_type"]))
        return done

    def widget(self) -> WidgetNamespace:
        """The web app's widget namespace, for tests that wait until its handlers have finished (a
        positive sign before checking that something did not happen)."""
        assert self.app is not None
        namespace: WidgetNamespace = self.app[SOCKETIO].namespace_handlers["/widget"]
        return namespace

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.services.pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(query, *args)
            return rows


class Shopper:
    """A shopper speaking the widget protocol with a real python-socketio client."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

        @self.sio.on("message", namespace="/widget")
        async def _on_message(data: dict[str, Any]) -> None:
            self.received.append(data)
            self._changed.set()

        @self.sio.on("status", namespace="/widget")
        async def _on_status(data: dict[str, Any]) -> None:
            self.statuses.append(data)
            self._changed.set()

    async def connect(self, base_url: str) -> None:
        await self.sio.connect(
            base_url, namespaces=["/widget"], auth={"token": self.token}, transports=["websocket"], wait_timeout=10
        )

    async def call(self, event: str, data: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.sio.call(event, data, namespace="/widget", timeout=10)
        return result

    async def send(self, body: str, client_id: str | None = None) -> dict[str, Any]:
        return await self.call("message", {"client_id": client_id or uuid.uuid4().hex, "body": body})

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def agent_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.received if m["direction"] == "agent"]

    async def close(self) -> None:
        await self.sio.disconnect()


@asynccontextmanager
async def running_zora(
    infra: Any, database_url: str, standin_app_token: str | None = None, web_port: int = 0, **overrides: Any
) -> AsyncIterator[Zora]:
    """`web_port` 0: any free port; a test that must know Zora's address first (PUBLIC_URL) gives one."""
    standin = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=standin_app_token)
    standin.add_channel(CHANNEL, "support")
    standin.add_user(AGENT, "ada", "Ada Agent")
    await standin.start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=infra.redis.url,
        temporal_address=infra.temporal_address,
        temporal_task_queue=f"zora-test-{uuid.uuid4().hex[:8]}",
        zora_secret_key=secrets.token_urlsafe(32),
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=standin.base_url,
        log_format="text",
        # slack_bot_token=None in `overrides`: a deployment of Add to Slack only.
        **{"slack_bot_token": BOT_TOKEN, **LIFTED_LIMITS, **overrides},
    )
    shop = f"shop-{uuid.uuid4().hex[:8]}.myshopify.com"
    try:
        async with open_services(settings) as services:
            shop_id = await ensure_shop(services.pool, shop, "Test shop", CHANNEL)
            async with serving_web(settings, services, host="127.0.0.1", port=web_port, dev=True) as served:
                standin.events_url = f"{served.url}/slack/events"
                async with aiohttp.ClientSession() as http, worker_for(services) as worker, worker:
                    zora = Zora(settings, services, standin, served.url, http, shop, shop_id, app=served.app)
                    try:
                        yield zora
                    finally:
                        for client in zora.clients:
                            if client.connected:
                                await client.disconnect()
    finally:
        await standin.stop()
