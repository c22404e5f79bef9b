"""The assistant's lookups and identity codes (issue 12 §3, §4), each an activity scoped by construction.

Every tool takes the shop and the conversation from its `ToolInput` (the turn's, from the conversation),
and reads the model's arguments only for *what* to look up, validated here (types, lengths). Whose
orders may be read is decided in the SQL of zora.store.assistant_lookups from the conversation alone:
the customer the app proxy verified, and the emails proven in this conversation. A model that names
another shop, customer or email in its arguments changes nothing: those arguments are never read.

A result the model cannot use (bad arguments) is a JSON error asking for the call again; an order the
shopper may not see gets the same answer whether it exists or not: prove your identity first.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from temporalio.exceptions import ApplicationError

from activities.calls import (
    CHECK_VERIFICATION_CODE,
    ORDER_STATUS,
    PRODUCT_SEARCH,
    RECENT_ORDERS,
    SEND_VERIFICATION_CODE,
)
from zora.addresses import parse_address
from zora.assistant import ToolInput, ToolOutput
from zora.db import Pool, Row
from zora.identity_codes import CODE_ATTEMPTS, IdentityCodes
from zora.mail import Mailer
from zora.store import assistant_lookups as lookups

RECENT_ORDERS_LIMIT = 5
PRODUCTS_LIMIT = 5
# Words of a question that say nothing about a product: left out of the search.
_STOP_TEXT = (
    "a an and any are can color colour cost costs did do does for from have how i in is it me much my of on"
    " or price prices product products sell sells stock the there this to what which with you your"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")

IDENTITY_NEEDED = {
    "identity_needed": True,
    "how": "Orders are shown only to their owner. Ask the customer for the email address they used for the"
    " order, call send_verification_code with it (and the order number), ask them to type the 6-digit code"
    " from that email, call check_verification_code with it, then look the order up again.",
}


class _Args(BaseModel):
    # Whatever else the model sends (a shop, a customer, an email to look up) is ignored, never read.
    model_config = ConfigDict(extra="ignore")


class OrderArgs(_Args):
    order_number: int

    @field_validator("order_number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int:
        text = str(value).strip().lstrip("#").strip() if isinstance(value, str | int) else ""
        if not text.isdigit() or len(text) > 12 or isinstance(value, bool):
            raise ValueError("must be an order number such as #1001")
        return int(text)


class SearchArgs(_Args):
    query: str = Field(min_length=1, max_length=200)


class EmailArgs(_Args):
    email: str = Field(max_length=254)
    order_number: int | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return parse_address(value).lower()

    @field_validator("order_number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> int | None:
        return None if value in (None, "") else OrderArgs._number(value)


class CodeArgs(_Args):
    code: str

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> str:
        text = re.sub(r"[\s-]", "", str(value)) if isinstance(value, str | int) else ""
        if not re.fullmatch(r"[0-9]{6}", text):
            raise ValueError("must be the 6 digits from the email")
        return text


def _json(value: dict[str, Any]) -> ToolOutput:
    return ToolOutput(content=json.dumps(value, default=str))


A = TypeVar("A", bound=_Args)


def _args(kind: type[A], tool: ToolInput) -> A | ToolOutput:
    """The call's arguments, or the error to send back to the model."""
    try:
        return kind.model_validate(tool.call.parsed_arguments())
    except (ValidationError, ValueError) as exc:
        problems = (
            "; ".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in exc.errors(include_url=False))
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        return _json({"error": f"{problems}; call {tool.call.name} again with valid arguments"})


def _not_this_shops() -> ApplicationError:
    return ApplicationError("the conversation is not one of this shop's", type="ToolScope", non_retryable=True)


def order_summary(row: Row, *, detail: bool) -> dict[str, Any]:
    status = "cancelled" if row["cancelled_at"] else (row["fulfillment_status"] or "unfulfilled")
    summary: dict[str, Any] = {
        "order": row["name"],
        "placed": row["processed_at"].date().isoformat() if row["processed_at"] else None,
        "status": status,
        "payment": row["financial_status"],
        "total": f"{Decimal(row['current_total_price']):.2f} {row['currency'] or ''}".strip(),
    }
    if detail:
        summary["items"] = [{"title": li.get("title"), "quantity": li.get("quantity")} for li in row["line_items"]]
        summary["tracking"] = [
            {"company": t.get("company"), "number": t.get("number"), "url": t.get("url")}
            for f in row["fulfillments"]
            for t in f.get("tracking") or []
        ]
    return summary


def search_patterns(query: str) -> list[str]:
    """LIKE patterns (escaped) for the words of a question that may name a product, at most 8."""
    words = [w for w in _WORD.findall(query.lower()) if len(w) > 1 and w not in _STOP_WORDS]
    escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
    return [f"%{w}%" for w in dict.fromkeys(escaped)][:8]


def product_summary(row: Row) -> dict[str, Any]:
    variants = [v for v in row["variants"] if isinstance(v, dict)]
    prices = sorted({Decimal(str(v["price"])) for v in variants if v.get("price") not in (None, "")})
    known = [v["available"] for v in variants if isinstance(v.get("available"), bool)]
    return {
        "title": row["title"],
        "price": f"{prices[0]:.2f}" if len(prices) == 1 else (f"from {prices[0]:.2f}" if prices else None),
        "options": [v.get("title") for v in variants if v.get("title") and v.get("title") != "Default Title"],
        # Any variant for sale; None when the synced catalogue does not say (records from before it did).
        "available": any(known) if known else None,
    }


class LookupTools:
    def __init__(self, pool: Pool, mailer: Mailer | None) -> None:
        self.pool = pool
        self.codes = IdentityCodes(pool, mailer)

    def all(self) -> list[Any]:
        return [
            self.order_status,
            self.recent_orders,
            self.product_search,
            self.send_verification_code,
            self.check_verification_code,
        ]

    async def _in_shop(self, tool: ToolInput) -> None:
        async with self.pool.acquire() as conn:
            if await lookups.conversation_in_shop(conn, tool.shop_id, tool.conversation_id):
                return
        raise _not_this_shops()

    @ORDER_STATUS.defn
    async def order_status(self, tool: ToolInput) -> ToolOutput:
        args = _args(OrderArgs, tool)
        if isinstance(args, ToolOutput):
            return args
        await self._in_shop(tool)
        async with self.pool.acquire() as conn:
            row = await lookups.my_order(conn, tool.shop_id, tool.conversation_id, args.order_number)
        if row is None:
            # The same whether the order is someone else's or does not exist: no way to probe numbers.
            return _json({"order": f"#{args.order_number}", **IDENTITY_NEEDED})
        return _json(order_summary(row, detail=True))

    @RECENT_ORDERS.defn
    async def recent_orders(self, tool: ToolInput) -> ToolOutput:
        await self._in_shop(tool)
        async with self.pool.acquire() as conn:
            rows = await lookups.my_recent_orders(conn, tool.shop_id, tool.conversation_id, RECENT_ORDERS_LIMIT)
        if not rows:
            return _json({"orders": [], **IDENTITY_NEEDED})
        return _json({"orders": [order_summary(r, detail=False) for r in rows]})

    @PRODUCT_SEARCH.defn
    async def product_search(self, tool: ToolInput) -> ToolOutput:
        args = _args(SearchArgs, tool)
        if isinstance(args, ToolOutput):
            return args
        await self._in_shop(tool)
        patterns = search_patterns(args.query)
        if not patterns:
            return _json({"products": [], "note": "say what product you look for in a few words"})
        async with self.pool.acquire() as conn:
            rows = await lookups.search_products(conn, tool.shop_id, patterns, PRODUCTS_LIMIT)
        return _json({"products": [product_summary(r) for r in rows]})

    @SEND_VERIFICATION_CODE.defn
    async def send_verification_code(self, tool: ToolInput) -> ToolOutput:
        args = _args(EmailArgs, tool)
        if isinstance(args, ToolOutput):
            return args
        outcome = await self.codes.send(tool.shop_id, tool.conversation_id, args.email, args.order_number)
        if outcome == "not_found":
            raise _not_this_shops()
        if outcome == "no_mail":
            return _json({"error": "codes cannot be emailed from this shop's chat; offer a person instead"})
        if outcome == "limited":
            return _json({"error": "too many codes were asked for; ask the customer to wait, or offer a person"})
        # One answer whether or not the address has orders here, so that nobody learns who shops here.
        return _json(
            {
                "sent": True,
                "note": "If this address was used for an order here, a 6-digit code is on its way to it;"
                " ask the customer to type it here. It works for 10 minutes.",
            }
        )

    @CHECK_VERIFICATION_CODE.defn
    async def check_verification_code(self, tool: ToolInput) -> ToolOutput:
        args = _args(CodeArgs, tool)
        if isinstance(args, ToolOutput):
            return args
        checked = await self.codes.check(tool.shop_id, tool.conversation_id, args.code)
        if checked.outcome == "not_found":
            raise _not_this_shops()
        if checked.outcome == "proven":
            return _json({"verified": True, "email": checked.email, "note": "now look the order up again"})
        if checked.outcome == "no_code" or checked.tries_left == 0:
            return _json(
                {"verified": False, "error": "no code is waiting (expired, used or too many tries); offer a new one"}
            )
        return _json({"verified": False, "error": f"wrong code; {checked.tries_left} of {CODE_ATTEMPTS} tries left"})
