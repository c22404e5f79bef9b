"""Webhook benchmark: signed Shopify deliveries from concurrent senders, with duplicates and reordering.

    .venv/bin/python -m bench.webhooks [--rate 400] [--customers 300] [--orders 300] [--closed 64] [--write]

Zora (web + worker in this process, as `zora dev` runs it) on the embedded PostgreSQL, Redis and
Temporal; the senders run in a separate process so they do not share this process's CPU. Each record
is sent in three versions (customers/update x3; orders/create, orders/paid, orders/fulfilled), 10 % of
deliveries are sent twice (same webhook id), and the whole sequence is shuffled, so old versions often
arrive after new ones. Reported: ack latency (p50/p95/p99), acks per second, time until every
delivery is processed, and the final database compared with the newest version of every record.
`--write` appends the result to docs/benchmarks.md under "Webhooks".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

import aiohttp

from bench.stats import percentile
from bench.webhooks_report import markdown, write_section
from zora.shopify.samples import SAMPLE_CUSTOMER, SAMPLE_ORDER, rest_customer, rest_order
from zora.shopify.signing import webhook_hmac

if TYPE_CHECKING:
    from bench.stack import Infra

SECRET = "shpss_bench_webhooks_secret_0123456789"
SHOP = "bench-webhooks.myshopify.com"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
PROJECT = Path(__file__).resolve().parents[1]


@dataclass
class Expected:
    emails: dict[int, str]
    orders: dict[int, tuple[str, str]]
    unique: int


def deliveries(customers: int, orders: int, seed: int) -> tuple[list[dict[str, Any]], Expected]:
    """Signed deliveries in a shuffled order with 10 % resent, and the final state they must leave."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    emails: dict[int, str] = {}
    order_state: dict[int, tuple[str, str]] = {}
    for i in range(customers):
        cid = 10_000 + i
        for version in range(1, 4):
            node = SAMPLE_CUSTOMER | {
                "id": f"gid://shopify/Customer/{cid}",
                "email": f"c{i}-v{version}@bench.example",
                "updatedAt": (BASE + timedelta(minutes=version, seconds=i)).isoformat(),
            }
            items.append(_signed("customers/update", rest_customer(node)))
        emails[cid] = f"c{i}-v3@bench.example"
    steps = (
        ("orders/create", "PENDING", "UNFULFILLED"),
        ("orders/paid", "PAID", "UNFULFILLED"),
        ("orders/fulfilled", "PAID", "FULFILLED"),
    )
    for i in range(orders):
        oid = 50_000 + i
        customer = SAMPLE_CUSTOMER | {
            "id": f"gid://shopify/Customer/{10_000 + i % max(customers, 1)}",
            "updatedAt": None,
        }
        for version, (topic, financial, fulfillment) in enumerate(steps, start=1):
            node = SAMPLE_ORDER | {
                "id": f"gid://shopify/Order/{oid}",
                "name": f"#{2000 + i}",
                "customer": {"id": customer["id"]},
                "displayFinancialStatus": financial,
                "displayFulfillmentStatus": fulfillment,
                "updatedAt": (BASE + timedelta(minutes=version, seconds=i)).isoformat(),
            }
            items.append(_signed(topic, rest_order(node, customer)))
        order_state[oid] = ("paid", "fulfilled")
    resent = [dict(item) for item in rng.sample(items, k=len(items) // 10)]
    everything = items + resent
    rng.shuffle(everything)
    return everything, Expected(emails=emails, orders=order_state, unique=len(items))


def _signed(topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload)
    webhook_id = str(uuid.uuid4())
    return {
        "body": body,
        "headers": {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(SECRET, body.encode()),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": webhook_id,
        },
    }


# The sender process.


async def send_all(url: str, items: list[dict[str, Any]], rate: float, concurrency: int) -> list[dict[str, Any]]:
    """Open loop at `rate` per second (0: closed loop), at most `concurrency` in flight."""
    results: list[dict[str, Any]] = [{} for _ in items]
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.monotonic()

        async def one(index: int, item: dict[str, Any]) -> None:
            if rate > 0:
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with gate:
                sent = time.monotonic()
                try:
                    async with http.post(url, data=item["body"].encode(), headers=item["headers"]) as resp:
                        answer = await resp.json(content_type=None)
                        results[index] = {
                            "status": resp.status,
                            "answer": answer.get("status"),
                            "sent": sent,
                            "acked": time.monotonic(),
                        }
                except aiohttp.ClientError as exc:
                    results[index] = {
                        "status": 0,
                        "answer": type(exc).__name__,
                        "sent": sent,
                        "acked": time.monotonic(),
                    }

        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
    return results


def sender_main(path: str, url: str, rate: float, concurrency: int) -> None:
    items = json.loads(Path(path).read_text())
    results = asyncio.run(send_all(url, items, rate, concurrency))
    json.dump(results, sys.stdout)


# The Zora side.


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.stack import embedded_infra
    from zora.app.assembly import serving_web
    from zora.app.dev import ensure_shop
    from zora.services import open_services
    from zora.settings import Settings

    items, expected = deliveries(args.customers, args.orders, args.seed)
    report: dict[str, Any] = {"deliveries": len(items), "unique": expected.unique}
    # Other work on the machine moves every figure here: the 1-minute load average says how much there was.
    report["load_before"] = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="zw-") as tmp:
        async with embedded_infra(Path(tmp), temporal_nice=args.background_nice) as infra:
            fields = _settings_fields(infra)
            settings = Settings(_env_file=None, **fields)  # type: ignore[call-arg]
            async with open_services(settings) as services:
                await ensure_shop(services.pool, SHOP, "Bench shop", None)
                async with serving_web(settings, services, host="127.0.0.1", access_log=False) as served:
                    url = f"{served.url}/webhooks/shopify"

                    def processing() -> contextlib.AbstractAsyncContextManager[None]:
                        return _processing(args, fields, services, tmp)

                    if args.defer_processing:
                        # Acks alone first (nothing else running), then the backlog is processed.
                        report |= await _send(url, items, args, tmp)
                        async with processing():
                            report |= await _settle(services.pool, expected, time.monotonic())
                    else:
                        async with processing():
                            started = time.monotonic()
                            report |= await _send(url, items, args, tmp)
                            report |= await _settle(services.pool, expected, started)
    report["load_after"] = round(os.getloadavg()[0], 2)
    return report


@contextlib.asynccontextmanager
async def _processing(args: argparse.Namespace, fields: dict[str, Any], services: Any, tmp: str) -> AsyncIterator[None]:
    """Zora's worker, in this process or (``--worker-process``) in its own, while the block runs."""
    if args.worker_process:
        from bench.stack import _worker_in_process
        from bench.worker_process import WorkerConfig

        config = WorkerConfig(fields, args.unsandboxed, args.background_nice)
        async with _worker_in_process(config, str(Path(tmp) / "worker.log")):
            yield
        return
    from zora.app.assembly import worker_for

    async with worker_for(services) as worker, worker:
        yield


async def _send(url: str, items: list[dict[str, Any]], args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    path = Path(tmp) / "deliveries.json"
    path.write_text(json.dumps(items))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.webhooks",
        "--send",
        str(path),
        url,
        str(args.rate),
        str(args.concurrency),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT,
    )
    out, _ = await proc.communicate()
    results = json.loads(out)
    latencies = [r["acked"] - r["sent"] for r in results if r]
    first, last = min(r["sent"] for r in results), max(r["acked"] for r in results)
    answers: dict[str, int] = {}
    for r in results:
        key = f"{r['status']} {r['answer']}"
        answers[key] = answers.get(key, 0) + 1
    return {
        "rate": args.rate,
        "concurrency": args.concurrency,
        "worker_process": args.worker_process,
        "unsandboxed": args.unsandboxed,
        "background_nice": args.background_nice,
        "deferred": args.defer_processing,
        "ack_ms": {q: round(percentile(latencies, q) * 1000, 1) for q in (50, 95, 99)},
        "ack_max_ms": round(max(latencies) * 1000, 1),
        "acks_per_s": round(len(results) / (last - first), 1),
        "answers": answers,
    }


async def _settle(pool: Any, expected: Expected, started: float) -> dict[str, Any]:
    """Wait until no delivery is left unprocessed; then compare the database with the newest versions."""
    while True:
        async with pool.acquire() as conn:
            pending = await conn.fetchval("SELECT count(*) FROM shopify_webhooks WHERE status = 'received'")
        if pending == 0 or time.monotonic() - started > 600:
            break
        await asyncio.sleep(0.05)
    processed_after = time.monotonic() - started
    async with pool.acquire() as conn:
        inbox = {
            r["status"]: r["n"]
            for r in await conn.fetch("SELECT status, count(*) AS n FROM shopify_webhooks GROUP BY status")
        }
        emails = {
            r["shopify_customer_id"]: r["email"]
            for r in await conn.fetch(
                "SELECT shopify_customer_id, email FROM customers"
                " WHERE shopify_customer_id >= 10000 AND shopify_customer_id < 50000"
            )
        }
        orders = {
            r["shopify_order_id"]: (r["financial_status"], r["fulfillment_status"])
            for r in await conn.fetch(
                "SELECT shopify_order_id, financial_status, fulfillment_status FROM shopify_orders"
            )
        }
    wrong = sum(1 for k, v in expected.emails.items() if emails.get(k) != v) + sum(
        1 for k, v in expected.orders.items() if orders.get(k) != v
    )
    return {
        "processed_s": round(processed_after, 2),
        "inbox": inbox,
        "records_expected": len(expected.emails) + len(expected.orders),
        "records_wrong": wrong,
        "records_missing": sum(1 for k in expected.emails if k not in emails)
        + sum(1 for k in expected.orders if k not in orders),
    }


def _settings_fields(infra: Infra) -> dict[str, Any]:
    """Zora's settings for the run, on the embedded servers (also handed to a worker process)."""
    return {
        "database_url": infra.database_url,
        "redis_url": infra.redis_url,
        "temporal_address": infra.temporal_address,
        "temporal_task_queue": f"zora-bench-wh-{uuid.uuid4().hex[:6]}",
        "zora_secret_key": secrets.token_urlsafe(32),
        "slack_bot_token": "xoxb-bench",
        "slack_signing_secret": "bench-signing-secret",
        "slack_api_url": "http://127.0.0.1:9/",
        "shopify_api_key": "bench",
        "shopify_api_secret": SECRET,
        "log_format": "text",
        "log_level": "WARNING",
        # The whole load goes to one shop: lift the per-shop webhook limit (a flood's limit).
        "rate_webhooks_per_shop": "100000000/minute",
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        sender_main(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=400.0, help="deliveries per second (open loop); 0 = closed loop")
    parser.add_argument("--concurrency", type=int, default=64, help="deliveries in flight at most")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--defer-processing",
        action="store_true",
        help="send everything before the worker starts: the ack path alone, then the backlog",
    )
    parser.add_argument(
        "--unsandboxed", action="store_true", help="experiment (with --worker-process): workflows without the sandbox"
    )
    parser.add_argument(
        "--worker-process", action="store_true", help="run the Temporal worker in its own process, as production does"
    )
    parser.add_argument(
        "--background-nice",
        type=int,
        default=0,
        help="with --worker-process: run the worker and the Temporal dev server at this niceness, so the web"
        " process's acks get the CPU first (processing is background work)",
    )
    parser.add_argument("--write", action="store_true", help="append the result to docs/benchmarks.md")
    args = parser.parse_args()
    began = time.monotonic()
    report = asyncio.run(run(args))
    text = markdown(report, "python -m bench.webhooks " + " ".join(sys.argv[1:]), time.monotonic() - began)
    print(json.dumps(report, indent=2))
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
