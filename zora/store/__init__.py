"""The data layer: every SQL statement Zora runs lives in this package (and the migrations).

One module per table group: `shops` (shops, their settings and history), `conversations`, `messages`,
`threads` (slack_threads), `files`, `receipts` (shopper profiles and transcript emails), `identity`
(merchant accounts and sessions), `shopify` (customers, orders, products, sync state, webhook inbox),
`deliveries` (offline delivery), `schema` (migrations bookkeeping).

Functions take the connection (or pool) to run on, so a caller that needs several statements in one
transaction keeps them there, and no function adds a round trip the caller did not already make.
Every statement that touches a shop's data is scoped by its shop, or by a key that belongs to exactly
one shop row (a conversation's UUID, a file's UUID) handed out by Zora itself.

tests/test_sql_lint.py fails when SQL appears in source outside this package and zora/migrations.
"""

from __future__ import annotations

from zora.db import Conn, Executor, Pool, Row

__all__ = ["Conn", "Executor", "Pool", "Row"]
