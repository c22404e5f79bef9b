"""`zora dev`: the whole of Zora on one machine, on the embedded default, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from zora import db
from zora.settings import Settings

log = logging.getLogger("zora.dev")

DEMO_CHANNEL_ID = "C0ZORADEMO"
DEMO_CHANNEL_NAME = "support"


@dataclass
class DevOptions:
    data_dir: str | None = None
    port: int | None = None
    slack_port: int = 8090
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    smtp_port: int = 1025
    mail_port: int = 8025


def _say(line: str) -> None:
    print(line, flush=True)


def _persistent_secret(path: Path) -> str:
    """A secret that survives restarts, so shoppers' tokens stay valid between `zora dev` runs."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


async def ensure_shop(pool: Any, domain: str, name: str, channel: str | None) -> int:
    async with pool.acquire() as conn:
        shop_id: int = await conn.fetchval(
            "INSERT INTO shops (domain, name, slack_channel_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (domain) DO UPDATE SET slack_channel_id = COALESCE(EXCLUDED.slack_channel_id,"
            " shops.slack_channel_id) RETURNING id",
            domain,
            name,
            channel,
        )
    return shop_id


async def run_dev(settings: Settings, opts: DevOptions) -> None:
    from widget.emitter import ShopperEmitter
    from zora.embedded import EmbeddedPostgres, EmbeddedRedis, start_temporal
    from zora.services import open_services
    from zora.temporal import ensure_sweep_schedule
    from zora.web import create_app
    from zora.worker import build_worker

    data_dir = Path(opts.data_dir or settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = opts.port or settings.port
    updates: dict[str, Any] = {"environment": "development", "log_format": "text"}
    stack = contextlib.AsyncExitStack()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with stack:
        _say(f"zora dev: data in {data_dir}")
        if settings.zora_secret_key is None:
            updates["zora_secret_key"] = _persistent_secret(data_dir / "secret.key")

        if settings.database_url is None:
            _say("  starting embedded PostgreSQL ...")
            pg = await asyncio.to_thread(EmbeddedPostgres.start, data_dir / "postgres")
            stack.callback(pg.stop)
            updates["database_url"] = await asyncio.to_thread(pg.ensure_database, "zora")
        if settings.redis_url is None:
            _say("  starting embedded Redis ...")
            rd = await asyncio.to_thread(EmbeddedRedis.start, data_dir / "redis" / "zora.rdb")
            stack.callback(rd.stop)
            updates["redis_url"] = rd.url
        temporal_ui = None
        if settings.temporal_address is None:
            _say("  starting embedded Temporal dev server ...")
            env = await start_temporal(
                db_file=data_dir / "temporal.db",
                port=opts.temporal_port,
                ui=True,
                ui_port=opts.temporal_ui_port,
            )
            stack.push_async_callback(env.shutdown)
            updates["temporal_address"] = f"127.0.0.1:{opts.temporal_port}"
            temporal_ui = f"http://127.0.0.1:{opts.temporal_ui_port}"

        inbox_url = None
        channel = settings.slack_default_channel
        if settings.slack_bot_token is None:
            from zora.standins.slack import SlackStandIn

            bot_token, signing_secret = (
                "xoxb-zora-dev-standin",
                _persistent_secret(data_dir / "slack-signing.key"),
            )
            standin = SlackStandIn(
                bot_token=bot_token,
                signing_secret=signing_secret,
                events_url=f"http://127.0.0.1:{port}/slack/events",
            )
            standin.add_channel(DEMO_CHANNEL_ID, DEMO_CHANNEL_NAME)
            standin.add_user("U0AGENT001", "ada", "Ada (you)")
            await standin.start(port=opts.slack_port)
            stack.push_async_callback(standin.stop)
            updates.update(
                slack_bot_token=bot_token, slack_signing_secret=signing_secret, slack_api_url=standin.base_url
            )
            channel = DEMO_CHANNEL_ID
            inbox_url = standin.inbox_url

        shopify_standin = None
        if settings.shopify_api_key is None:
            from zora.shopify.dev import start_standin

            shopify_standin, shopify_updates = await start_standin(stack, data_dir, port)
            updates.update(shopify_updates)

        mail_page = None
        if settings.smtp_host is None:
            from zora.mail_catcher import MailCatcher

            # Emails to shoppers (missed replies) are caught locally and shown on a page.
            catcher = MailCatcher()
            await catcher.start(smtp_port=opts.smtp_port, web_port=opts.mail_port)
            stack.push_async_callback(catcher.stop)
            updates.update(smtp_host=catcher.host, smtp_port=catcher.smtp_port, smtp_tls="none")
            mail_page = catcher.page_url
            if "widget_link_url" not in settings.model_fields_set:
                # The email's link reopens the conversation on the demo storefront.
                updates["widget_link_url"] = f"http://{settings.host}:{port}/demo?shop={{shop}}"

        settings = settings.with_values(**updates)
        applied = await db.migrate(settings.database_url or "")
        _say(f"  database migrated ({len(applied)} new migration(s))")

        services = await stack.enter_async_context(open_services(settings))
        await ensure_shop(services.pool, settings.demo_shop, "Zora demo store", channel)
        if shopify_standin is not None:
            from zora.shopify.dev import install_demo

            await install_demo(services, shopify_standin, settings.demo_shop)
        assert settings.redis_url
        emitter = ShopperEmitter(settings.redis_url)
        stack.push_async_callback(emitter.close)

        runner = web.AppRunner(create_app(settings, services, dev=True))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.host, port).start()

        await ensure_sweep_schedule(services.temporal, settings.temporal_task_queue)
        worker = build_worker(services, emitter)
        worker_task = asyncio.create_task(worker.run())

        base = f"http://{settings.host}:{port}"
        _say("")
        _say("Zora is running. Open:")
        _say(f"  demo storefront   {base}/demo")
        if inbox_url:
            _say(f"  Slack (stand-in)  {inbox_url}   <- no SLACK_BOT_TOKEN set: play the agent here")
        else:
            _say(f"  Slack             real workspace, channel {channel or '(set SLACK_DEFAULT_CHANNEL)'}")
        if temporal_ui:
            _say(f"  Temporal UI       {temporal_ui}")
        _say(f"  health            {base}/readyz")
        if mail_page:
            _say(f"  email (catcher)   {mail_page}   <- replies a shopper missed are emailed here")
        if shopify_standin is not None:
            _say("  Shopify (stand-in) demo shop seeded; send webhooks with `zora shopify trigger orders/paid`")
        _say("Press Ctrl-C to stop.")

        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({worker_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        _say("\nzora dev: stopping ...")
        if worker_task in done:
            worker_task.result()  # surface a crashed worker
        await worker.shutdown()
        stop_task.cancel()
    _say("zora dev: stopped.")
