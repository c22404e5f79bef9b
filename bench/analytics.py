"""The analytics page's API on a shop with many conversations (issue 11 §4: 100,000 in under 1 s).

    .venv/bin/python -m bench.analytics                     # 100,000 conversations, 7 runs per range
    .venv/bin/python -m bench.analytics --conversations 300 --runs 1 --no-write   # what the test runs

Seeds one shop (time zone America/New_York, weekday business hours) with N conversations spread over
the last 365 days, 4 to 12 messages each (shopper and agent in turn, 8 agents, every tenth
conversation with an assistant message first), 80 % resolved, a fifth of the shoppers bound to 5,000
customers with 15,000 orders; and a second shop with a tenth as many, which must not count. All with
`generate_series` in the embedded PostgreSQL, then VACUUM ANALYZE as autovacuum would. Then times
`zora.analytics.report` (everything `GET /admin/api/analytics` does after the token check: settings,
the figures' statements in one transaction, the JSON) for the whole year (every conversation) and for
the page's default 30 days, several runs each, and writes the figures to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.report import load_average, machine, machine_text, md_table, run_line, started_now, write_block
from zora import db
from zora.analytics import report
from zora.db import Pool
from zora.embedded import EmbeddedPostgres

ZONE = "America/New_York"
HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
MARKERS = ("<!-- analytics:begin -->", "<!-- analytics:end -->")

SEED = [
    "INSERT INTO customers (shop_id, shopify_customer_id, name, email)"
    " SELECT $1, g, 'Customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, $2::int / 20 + 1) g",
    "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name, current_total_price,"
    " processed_at) SELECT $1, g, 1 + g % ($2::int / 20 + 1), '#' || g, round((5 + random() * 300)::numeric, 2),"
    " now() - random() * interval '700 days' FROM generate_series(1, 3 * ($2::int / 20 + 1)) g",
    "INSERT INTO shoppers (id, shop_id, customer_id) SELECT md5($1::bigint || 's' || g)::uuid, $1,"
    " CASE WHEN g % 5 = 0 THEN (SELECT id FROM customers WHERE shop_id = $1 AND shopify_customer_id = 1 + g % ($2::int / 20 + 1))"
    " END FROM generate_series(1, $2) g",
    "INSERT INTO conversations (id, shop_id, shopper_id, status, assignee, created_at, resolved_at, last_seq)"
    " SELECT md5($1::bigint || 'c' || g)::uuid, $1, md5($1::bigint || 's' || g)::uuid,"
    " CASE WHEN g % 5 = 0 THEN 'open' ELSE 'resolved' END, 'U' || (g % 8),"
    " now() - interval '365 days' * g / $2,"
    " CASE WHEN g % 5 = 0 THEN NULL ELSE now() - interval '365 days' * g / $2 + random() * interval '2 days' END,"
    " 4 + g % 9 FROM generate_series(1, $2) g",
    "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_id, author_name, body, status, created_at)"
    " SELECT c.shop_id, c.id, s, CASE WHEN s % 2 = 1 THEN 'shopper' ELSE 'agent' END,"
    " CASE WHEN s % 2 = 1 THEN NULL WHEN s = 2 AND abs(hashtext(c.id::text)) % 10 = 0 THEN 'ai' ELSE c.assignee END,"
    " CASE WHEN s % 2 = 1 THEN 'Shopper' ELSE 'Agent ' || c.assignee END,"
    " repeat('words ', 1 + s % 20), 'delivered', c.created_at + (s - 1) * random() * interval '20 minutes'"
    " FROM conversations c, generate_series(1, c.last_seq) s WHERE c.shop_id = $1 AND $2::int > 0",
]


async def seed(pool: Pool, conversations: int) -> int:
    """The measured shop (and a smaller one beside it); its id."""
    settings = json.dumps({"timezone": ZONE, "business_hours": HOURS})
    ids = []
    for name, n in (("bench-analytics", conversations), ("bench-neighbour", max(1, conversations // 10))):
        shop_id = await pool.fetchval(
            "INSERT INTO shops (domain, name, settings) VALUES ($1, $1, $2::jsonb) RETURNING id",
            f"{name}-{time.time_ns()}.myshopify.com",
            settings,
        )
        for statement in SEED:
            await pool.execute(statement, shop_id, n)
        ids.append(shop_id)
    await pool.execute("VACUUM ANALYZE")
    return int(ids[0])


async def measure(pool: Pool, shop_id: int, query: dict[str, str], runs: int) -> tuple[list[float], dict[str, Any]]:
    timings: list[float] = []
    data: dict[str, Any] = {}
    for _ in range(runs):
        started = time.perf_counter()
        data = await report(pool, shop_id, query)
        json.dumps(data)
        timings.append((time.perf_counter() - started) * 1000)
    return timings, data


def ranges() -> dict[str, dict[str, str]]:
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    return {
        "whole year (every conversation)": {"from": (today - timedelta(days=366)).isoformat(), "to": today.isoformat()},
        "default 30 days": {},
    }


async def run(database_url: str, conversations: int, runs: int) -> list[list[str]]:
    await db.migrate(database_url)
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        started = time.perf_counter()
        shop_id = await seed(pool, conversations)
        messages = await pool.fetchval("SELECT count(*) FROM messages WHERE shop_id = $1", shop_id)
        print(f"seeded {conversations} conversations, {messages} messages in {time.perf_counter() - started:.0f} s")
        rows = []
        for label, query in ranges().items():
            timings, data = await measure(pool, shop_id, query, runs)
            spread = f"{min(timings):.0f} to {max(timings):.0f} ms"
            rows.append(
                [label, str(data["totals"]["conversations"]), f"{statistics.median(timings):.0f} ms", spread, str(runs)]
            )
            print(" | ".join(rows[-1]))
        return rows
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="a PostgreSQL to use instead of a fresh embedded one")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started_at, load_before, clock = started_now(), load_average(), time.perf_counter()
    if args.database_url:
        rows = asyncio.run(run(args.database_url, args.conversations, args.runs))
    else:
        with tempfile.TemporaryDirectory(prefix="zora-bench-analytics-") as root:
            postgres = EmbeddedPostgres.start(Path(root) / "pg")
            try:
                rows = asyncio.run(run(postgres.ensure_database("bench"), args.conversations, args.runs))
            finally:
                postgres.stop()
    if args.no_write:
        return
    command = f".venv/bin/python -m bench.analytics --conversations {args.conversations} --runs {args.runs}"
    block = "\n".join(
        [
            MARKERS[0],
            run_line(started_at, command, time.perf_counter() - clock),
            "",
            md_table(["range", "conversations counted", "median", "spread (min to max)", "runs"], rows),
            "",
            f"Machine: {machine_text(machine())}. Load average (1 min) before/after: {load_before} / {load_average()}.",
            MARKERS[1],
        ]
    )
    write_block(block, heading="Analytics page", intro=INTRO, markers=MARKERS)


INTRO = """```
.venv/bin/python -m bench.analytics --conversations 100000 --runs 7
```

The analytics page's API (`zora.analytics.report`: what `GET /admin/api/analytics` does after the
token check) on one shop with 100,000 conversations over a year and about 800,000 messages, seeded into a
fresh embedded PostgreSQL (see the module's docstring for the data). The goal (issue 11 §4) is under 1 s."""


if __name__ == "__main__":
    main()
