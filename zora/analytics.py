"""The analytics page (issue 11 §4): `GET /admin/analytics` (and `/staff/analytics` for Zora's own
sign-in), and the API behind it, `GET /admin/api/analytics` (JSON) and `/admin/api/analytics/export`
(CSV). The caller is authenticated exactly as the settings API does it (zora/admin.py `authenticate`):
the shop comes from the token only. Owners and agents may both read.

A range is two local dates of the shop (`from`, `to`, both included) in the time zone of its settings;
the figures are zora/store/analytics.py's. What each one means is in docs/analytics.md.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from zora.admin import AdminCaller, admin_page, authenticate
from zora.business_hours import DAYS
from zora.db import Pool
from zora.limits import RateLimited
from zora.services import Services
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopify import scores
from zora.shopify.signing import valid_shop_domain
from zora.staff_web import settings_page
from zora.store import analytics as sanalytics
from zora.store import assistant_metrics
from zora.store import shops as sshops

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
# Two years of days at most: the per-day chart stays readable and a request stays bounded.
MAX_DAYS = 731
TOP_AGENTS = 50
TOP_CUSTOMERS = 10
TABLES = ("days", "agents", "hours", "customers", "totals")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); tab and carriage
# return are on OWASP's list too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadRange(ValueError):
    pass


def parse_range(query: Any, timezone: str, today: date | None = None) -> tuple[date, date]:
    """(from, to) local dates from the query string; the last DEFAULT_DAYS days when absent."""
    today = today or datetime.now(ZoneInfo(timezone)).date()
    try:
        end = date.fromisoformat(query["to"]) if query.get("to") else today
        start = date.fromisoformat(query["from"]) if query.get("from") else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise BadRange("from and to are dates like 2026-12-31") from None
    if start > end:
        raise BadRange("from must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRange(f"a range is at most {MAX_DAYS} days")
    return start, end


def store_range(shop_id: int, timezone: str, start: date, end: date) -> sanalytics.Range:
    """Local midnight of `start` to local midnight after `end`, as instants (DST days are 23 or 25 h)."""
    zone = ZoneInfo(timezone)
    return sanalytics.Range(
        shop_id=shop_id,
        start=datetime.combine(start, time(0), zone),
        end=datetime.combine(end + timedelta(days=1), time(0), zone),
        timezone=timezone,
    )


def weekly_hours(settings: ShopSettings) -> tuple[list[time | None], list[time | None]]:
    if not settings.business_hours:
        return [], []
    opens: list[time | None] = []
    closes: list[time | None] = []
    for day in DAYS:
        hours = settings.business_hours.get(day)
        opens.append(time.fromisoformat(hours[0]) if hours else None)
        closes.append(time.fromisoformat(hours[1]) if hours else None)
    return opens, closes


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def report(pool: Pool, shop_id: int, query: Any) -> dict[str, Any]:
    """Every figure of the page for the range the query names. Raises BadRange."""
    async with pool.acquire() as conn:
        stored = await sshops.versioned_settings(conn, shop_id)
    try:
        settings = parse_settings(stored.settings)
    except ValidationError:
        settings = ShopSettings()  # as the settings page does: defaults until someone saves valid ones
    start, end = parse_range(query, settings.timezone)
    r = store_range(shop_id, settings.timezone, start, end)
    # Two connections side by side: the conversations' figures and the messages' (the larger scan).
    conversations, (messages, replies) = await asyncio.gather(
        _conversation_figures(pool, r, settings), _message_figures(pool, r)
    )
    days, totals, agents, customers, assistant = conversations
    return {
        "timezone": settings.timezone,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "business_hours": settings.business_hours is not None,
        "totals": _totals(totals, assistant),
        "days": [
            {
                "day": d["day"].isoformat(),
                "conversations": d["conversations"],
                "first_response_p50": _seconds(d["first_response_p50"]),
                "first_response_p90": _seconds(d["first_response_p90"]),
                "resolution_p50": _seconds(d["resolution_p50"]),
            }
            for d in days
        ],
        "agents": _agents(agents, replies),
        "hours": _hours(messages),
        "customers": [
            {
                "id": c["id"],
                "name": c["name"],
                "email": c["email"],
                "conversations": c["conversations"],
                "spent": str(c["spent"]),
                "value_score": scores.value_score(c["spent"], c["at_or_below"], c["buyers"]),
            }
            for c in customers
        ],
    }


async def _conversation_figures(pool: Pool, r: sanalytics.Range, settings: ShopSettings) -> tuple[Any, ...]:
    opens, closes = weekly_hours(settings)
    async with pool.acquire() as conn, conn.transaction():
        await sanalytics.prepare(conn, r)
        return (
            await sanalytics.per_day(conn, r),
            await sanalytics.totals(conn, opens, closes),
            await sanalytics.per_agent(conn),
            await sanalytics.top_customers(conn, r, TOP_CUSTOMERS),
            await assistant_metrics.range_totals(conn, r.shop_id, r.start, r.end),
        )


async def _message_figures(pool: Pool, r: sanalytics.Range) -> tuple[list[Any], list[Any]]:
    async with pool.acquire() as conn:
        return await sanalytics.messages_by_hour(conn, r), await sanalytics.replies_by_agent(conn, r)


def _hours(messages: list[Any]) -> list[dict[str, int]]:
    hours = [{"hour": hour, "shopper": 0, "agent": 0} for hour in range(24)]
    for m in messages:
        hours[m["hour"]][m["direction"]] += m["messages"]
    return hours


def _agents(per_agent: list[Any], replies: list[Any]) -> list[dict[str, Any]]:
    """Agents by replies sent in the range (then by id), with what the range's conversations say of them."""
    agents: dict[str, dict[str, Any]] = {}

    def agent(ident: str) -> dict[str, Any]:
        return agents.setdefault(
            ident,
            {"agent": ident, "name": None, "replies": 0, "assigned": 0, "first_responses": 0,
             "first_response_p50": None, "resolved": 0},
        )  # fmt: skip

    for m in replies:
        a = agent(m["agent"])
        a["replies"], a["name"] = m["messages"], m["name"]
    for row in per_agent:
        if row["agent"] is not None:
            a = agent(row["agent"])
            a.update(assigned=row["assigned"], first_responses=row["first_responses"], resolved=row["resolved"])
            a["first_response_p50"] = _seconds(row["first_response_p50"])
    return sorted(agents.values(), key=lambda a: (-a["replies"], a["agent"]))[:TOP_AGENTS]


def _totals(t: Any, a: assistant_metrics.AssistantTotals) -> dict[str, Any]:
    return {
        "conversations": t["conversations"],
        "answered": t["answered"],
        "resolved": t["resolved"],
        "first_response_p50": _seconds(t["first_response_p50"]),
        "first_response_p90": _seconds(t["first_response_p90"]),
        "resolution_p50": _seconds(t["resolution_p50"]),
        "resolution_p90": _seconds(t["resolution_p90"]),
        "outside_hours": t["outside_hours"],
        "outside_hours_share": _share(t["outside_hours"], t["conversations"]),
        # Conversations the assistant took part in (a turn in the range), and of those the ones it resolved:
        # the share is None ("n/a") when it took part in none, never a made-up 0.
        "assistant_conversations": a.involved,
        "assistant_resolved": a.resolved,
        "assistant_resolved_share": _share(a.resolved, a.involved),
        "assistant_turns": a.turns,
        "assistant_handovers": dict(sorted(a.handovers.items(), key=lambda kv: (-kv[1], kv[0]))),
        "assistant_prompt_tokens": a.prompt_tokens,
        "assistant_completion_tokens": a.completion_tokens,
        "assistant_cost_usd": str(a.cost_usd),
    }


def safe_cell(value: Any) -> Any:
    """A cell as written to CSV: text that a spreadsheet would run as a formula gets a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    """Handovers by reason in one cell ("reason: n; ..."): the reasons are the assistant's own words, too many
    and too free for a column each."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def to_csv(data: dict[str, Any], table: str) -> str:
    """One table of a report as CSV (RFC 4180 quoting by the csv module, CRLF line ends)."""
    rows: list[dict[str, Any]] = [data["totals"]] if table == "totals" else data[table]
    out = io.StringIO()
    writer = csv.writer(out)
    if rows:
        columns = list(rows[0])
        writer.writerow(columns)
        for row in rows:
            writer.writerow([safe_cell(_cell(row[c])) for c in columns])
    return out.getvalue()


class AnalyticsApi:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _caller(self, request: web.Request) -> AdminCaller:
        caller = await authenticate(request, self.services)
        await self.services.limiter.hit(("rate_admin_requests_per_shop", caller.shop))
        return caller

    async def get(self, request: web.Request) -> web.StreamResponse:
        caller = await self._caller(request)
        data = await report(self.services.pool, caller.shop_id, request.query)
        return web.json_response({"shop": caller.shop, **data})

    async def export(self, request: web.Request) -> web.StreamResponse:
        caller = await self._caller(request)
        table = request.query.get("table", "days")
        if table not in TABLES:
            return _bad(f"table is one of {', '.join(TABLES)}")
        data = await report(self.services.pool, caller.shop_id, request.query)
        name = f"zora-{table}-{data['from']}-{data['to']}.csv"
        return web.Response(
            text=to_csv(data, table),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _bad(message: str) -> web.Response:
    return web.json_response({"error": {"code": "bad_request", "message": message}}, status=400)


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    """The pages and the API; called once from zora.app.web."""

    def route(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            api = AnalyticsApi(request.app[services_key])
            try:
                response: web.StreamResponse = await getattr(api, name)(request)
            except BadRange as exc:
                response = _bad(str(exc))
            except RateLimited as exc:
                response = web.json_response(
                    {"error": {"code": "rate_limited", "message": str(exc)}, "retry_after": exc.retry_after},
                    status=429,
                )
                response.headers["Retry-After"] = str(exc.retry_after)
            response.headers["Cache-Control"] = "no-store"
            return response

        return handler

    async def embedded(request: web.Request) -> web.Response:
        shop = request.query.get("shop", "")
        return page(request.app[services_key], shop if valid_shop_domain(shop) else "")

    async def staff(_request: web.Request) -> web.Response:
        return settings_page("analytics.html")

    app.router.add_get("/admin/analytics", embedded)
    app.router.add_get("/staff/analytics", staff)
    app.router.add_get("/admin/api/analytics", route("get"))
    app.router.add_get("/admin/api/analytics/export", route("export"))


def page(services: Services, shop: str) -> web.Response:
    """The analytics page, framed by Shopify admin under the settings page's frame-ancestors policy."""
    text = (resources.files("zora") / "static" / "analytics.html").read_text()
    text = text.replace("{{API_KEY}}", html.escape(services.settings.shopify_api_key or "", quote=True))
    policy = admin_page(services, shop).headers["Content-Security-Policy"]
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"},
    )
