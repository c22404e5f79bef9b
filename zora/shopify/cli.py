"""`zora shopify trigger TOPIC` and `zora shopify sync` (wired into the `zora` command by zora/app/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from zora.db import Pool
from zora.errors import ConfigError
from zora.http import client_session
from zora.settings import Settings
from zora.shopify import sync
from zora.shopify.admin import ShopifyError
from zora.shopify.models import RESOURCES
from zora.shopify.samples import TOPICS, sample_payload
from zora.shopify.signing import valid_shop_domain, webhook_hmac
from zora.store import compliance as scompliance
from zora.store import shops as sshops

SECRET_FILE = "shopify-secret.key"


def add_commands(sub: Any) -> None:
    shopify = sub.add_parser("shopify", help="Shopify: send test webhooks, run the full import")
    commands = shopify.add_subparsers(dest="shopify_command", required=True, metavar="SUBCOMMAND")
    trigger = commands.add_parser(
        "trigger",
        help="send a correctly signed webhook delivery with an example body (like `shopify app webhook trigger`)",
    )
    trigger.add_argument(
        "topic", choices=TOPICS, metavar="TOPIC", help="e.g. orders/create; one of: " + ", ".join(TOPICS)
    )
    trigger.add_argument("--shop", help="myshopify domain (default DEMO_SHOP)")
    trigger.add_argument("--address", help="webhook URL (default http://HOST:PORT/webhooks/shopify)")
    sync_cmd = commands.add_parser("sync", help="import every product, customer and order from Shopify now")
    sync_cmd.add_argument("--shop", help="only this shop (default: every installed shop)")
    export_cmd = commands.add_parser(
        "export", help="print a customer data export (from a customers/data_request webhook) as JSON"
    )
    export_cmd.add_argument("export_id", type=int, help="the number Zora posted in Slack")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.shopify_command == "trigger":
        return asyncio.run(trigger(settings, args.topic, args.shop, args.address))
    if args.shopify_command == "export":
        return asyncio.run(print_export(settings, args.export_id))
    return asyncio.run(run_sync(settings, args.shop))


def with_dev_secret(settings: Settings) -> Settings:
    """ZORA_SECRET_KEY (it opens the stored access tokens), or the one `zora dev` keeps in its data folder."""
    kept = Path(settings.data_dir) / "secret.key"
    if settings.zora_secret_key is None and kept.exists():
        return settings.with_values(zora_secret_key=kept.read_text().strip())
    return settings


def app_secret(settings: Settings) -> str:
    """SHOPIFY_API_SECRET, or the one `zora dev` keeps for its stand-in."""
    if settings.shopify_api_secret is not None:
        return settings.shopify_api_secret.get_secret_value()
    kept = Path(settings.data_dir) / SECRET_FILE
    if kept.exists():
        return kept.read_text().strip()
    raise ConfigError("SHOPIFY_API_SECRET is required for this command but is not set (and no `zora dev` secret found)")


async def trigger(
    settings: Settings, topic: str, shop: str | None, address: str | None, out: TextIO = sys.stdout
) -> int:
    shop = (shop or settings.demo_shop).lower()
    if not valid_shop_domain(shop):
        raise ConfigError(f"--shop {shop!r} is not a myshopify.com domain")
    url = (
        address or f"{(settings.public_url or f'http://{settings.host}:{settings.port}').rstrip('/')}/webhooks/shopify"
    )
    # A fresh updated_at: an example body must not be "older" than what an earlier trigger stored.
    body = json.dumps(sample_payload(topic, shop, updated_at=datetime.now(UTC))).encode()
    webhook_id = f"zora-trigger-{int(time.time() * 1000)}"
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhook_hmac(app_secret(settings), body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": settings.shopify_api_version,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": webhook_id,
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }
    try:
        async with client_session() as http, http.post(url, data=body, headers=headers) as resp:
            answer = await resp.text()
    except aiohttp.ClientError as exc:
        raise ConfigError(f"could not reach {url}: {exc}") from None
    print(f"{topic} -> {url}: HTTP {resp.status} {answer}", file=out)
    return 0 if resp.status == 200 else 1


class Progress:
    """A one-line bar on a terminal; plain lines (one per page) when piped."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()

    def update(self, shop: str, resource: str, done: int, total: int) -> None:
        share = min(1.0, done / total) if total else 1.0
        bar = "#" * round(share * self.width)
        line = f"{shop} {resource:<9} [{bar:<{self.width}}] {share:4.0%} {done}/{total}"
        if self.tty:
            print("\r" + line, end="", file=self.out, flush=True)
        else:
            print(line, file=self.out, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=self.out)


async def run_sync(settings: Settings, only: str | None, out: TextIO = sys.stdout) -> int:
    from zora import db

    settings = with_dev_secret(settings)
    settings.require("database_url")
    assert settings.database_url
    pool = await db.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            shops = await sshops.installed_domains(conn, only)
        if only and not shops:
            raise ConfigError(f"{only} is not an installed shop")
        failures = 0
        async with client_session() as http:
            for shop in shops:
                failures += not await _sync_shop(pool, http, settings, shop, Progress(out), out)
        if not shops:
            print("no installed shops", file=out)
        return 1 if failures else 0
    finally:
        await pool.close()


async def _sync_shop(
    pool: Pool, http: aiohttp.ClientSession, settings: Settings, shop: str, bar: Progress, out: TextIO
) -> bool:
    started = time.monotonic()
    shop_id, token = await sync.shop_credentials(pool, settings, shop)
    client = sync.admin_client(http, settings, shop, token)
    plan = await sync.plan(pool, shop, full=True)
    counts: dict[str, int] = {}
    try:
        totals = await sync.counts(client, None)
        for resource in RESOURCES:
            cursor, done = None, 0
            bar.update(shop, resource, 0, totals[resource])
            while True:
                page = await sync.sync_page(pool, client, shop_id, resource, None, cursor)
                done += page.count
                bar.update(shop, resource, done, max(done, totals[resource]))
                if not page.has_next:
                    break
                cursor = page.cursor
            bar.done()
            counts[resource] = done
            await sync.save_watermark(pool, shop, resource, plan.started_at, done)
    except ShopifyError as exc:
        bar.done()
        print(f"{shop}: failed: {exc}", file=out)
        return False
    summary = ", ".join(f"{counts[r]} {r}" for r in RESOURCES)
    print(
        f"{shop}: imported {summary} in {time.monotonic() - started:.1f} s"
        f" (waited {client.waited:.1f} s for Shopify's rate limit)",
        file=out,
    )
    return True


async def print_export(settings: Settings, export_id: int, out: TextIO = sys.stdout) -> int:
    """The stored export, as JSON, for the merchant to send to the customer who asked."""
    import asyncpg

    settings.require("database_url")
    conn = await asyncpg.connect(settings.database_url)
    try:
        export = await scompliance.stored_export(conn, export_id)
    finally:
        await conn.close()
    if export is None:
        print(f"zora: error: no export {export_id}", file=sys.stderr)
        return 1
    out.write(export + "\n")
    return 0
